"""Inference: 64-d expression coefficients for a phoneme sequence in a text- or video-given style.

The decoder output of frame t depends only on the style code and the 2w+1 phonemes around t
(StyleTalk's sliding window), so any length is processed in chunks of ``chunk_frames`` frames with
memory bounded by the chunk, and the result equals the unchunked one.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from talkclip.config.loader import ConfigError, build
from talkclip.config.model import ModelConfig
from talkclip.expression import require_same_space
from talkclip.model.style_encoder import crop_or_pad_style_clip
from talkclip.model.talkclip_model import TalkCLIP
from talkclip.phonemes import N_PHONEMES, SIL_ID
from talkclip.training.checkpoint import (
    CheckpointError,
    checkpoint_expression_space,
    load_checkpoint,
    load_module_state,
)


def load_model(checkpoint_path: str | Path) -> tuple[TalkCLIP, ModelConfig]:
    """The TalkCLIP network of a training checkpoint (eval mode, CPU) and its model config.

    ``model.expression_space`` is the space of the data it was trained on (the space it reads style
    clips in and writes coefficients in); ``model.checkpoint_path`` names the file for errors.
    """
    checkpoint = load_checkpoint(checkpoint_path)
    modules = checkpoint.get("modules")
    if not isinstance(modules, dict) or "talkclip" not in modules:
        stored = sorted(modules) if isinstance(modules, dict) else "none"
        raise CheckpointError(f"{checkpoint_path}: no TalkCLIP network in this checkpoint (modules: {stored})")
    try:
        config = checkpoint["config"]
        model_cfg = build(ModelConfig, config["model"], "model")
        text_dim = int(config["data"]["text_dim"])
    except KeyError as exc:
        raise CheckpointError(f"{checkpoint_path}: checkpoint config lacks {exc}") from None
    except (ConfigError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{checkpoint_path}: the checkpoint's stored config is not valid: {exc}") from None
    model = TalkCLIP(model_cfg, text_dim)
    load_module_state(model, checkpoint["modules"]["talkclip"], str(checkpoint_path))
    model.expression_space = checkpoint_expression_space(checkpoint, checkpoint_path)
    model.checkpoint_path = str(checkpoint_path)
    return model.eval(), model_cfg


def model_space(model: TalkCLIP) -> tuple[str | None, str]:
    """(expression space, description) of a model: recorded by :func:`load_model`, else unknown (None)."""
    space = getattr(model, "expression_space", None)
    return space, f"checkpoint {getattr(model, 'checkpoint_path', '(in memory)')}"


@torch.no_grad()
def generate_coefficients(
    model: TalkCLIP,
    phonemes: np.ndarray,
    *,
    text: str | None = None,
    style_clip: np.ndarray | None = None,
    style_space: str | None = None,
    style_source: str = "the style clip",
    backbone=None,
    chunk_frames: int = 256,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """(T,) phoneme ids (one per frame) -> (T, 64) float32 expression coefficients.

    Exactly one style source: ``text`` (a description; embedded by ``backbone``, default the model
    config's backbone) or ``style_clip`` ((S, 64) expression coefficients; centre-cropped / padded to
    model.style_max_frames as StyleTalk does). ``style_space`` is the style clip's expression space:
    when both it and the model's (:func:`load_model`) are known they must be the same
    (ExpressionSpaceError naming ``style_source`` and the checkpoint otherwise).
    """
    ids = check_phonemes(phonemes)
    if chunk_frames < 1:
        raise ValueError(f"generate_coefficients: chunk_frames must be >= 1, got {chunk_frames}")
    style = style_code(model, text=text, style_clip=style_clip, style_space=style_space, style_source=style_source,
                       backbone=backbone, device=device)
    return decode_coefficients(model, ids, style, chunk_frames=chunk_frames)


def check_phonemes(phonemes: np.ndarray) -> np.ndarray:
    ids = np.asarray(phonemes)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"generate_coefficients: phonemes must be a 1-D integer array (T,), got {ids.dtype} {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= N_PHONEMES):
        raise ValueError(f"generate_coefficients: phoneme ids must be in 0..{N_PHONEMES - 1}, "
                         f"got {int(ids.min())}..{int(ids.max())}")
    return ids


@torch.no_grad()
def style_code(
    model: TalkCLIP,
    *,
    text: str | None = None,
    style_clip: np.ndarray | None = None,
    style_space: str | None = None,
    style_source: str = "the style clip",
    backbone=None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The (1, text_dim) style code of a description (T2SS) or of a style clip (V2SS)."""
    if (text is None) == (style_clip is None):
        raise ValueError("generate_coefficients: give exactly one of text= or style_clip=")
    cfg = model.cfg
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        if text is not None:
            if not isinstance(text, str) or not text.strip():
                raise ValueError("generate_coefficients: text is empty; give a speaking-style description")
            if backbone is None:
                from talkclip.model.text_backbone import load_text_backbone

                backbone = load_text_backbone(cfg)
            if backbone.dim != model.text_dim:
                raise ValueError(f"generate_coefficients: backbone {backbone.name} gives {backbone.dim}-d embeddings, "
                                 f"the model was trained with {model.text_dim}-d ones")
            return model.text_style(backbone.embed([text]).to(device))
        space, model_source = model_space(model)
        if style_space is not None and space is not None:
            require_same_space(space, model_source, style_space, style_source)
        clip = np.asarray(style_clip, dtype=np.float32)
        if clip.ndim != 2 or clip.shape[1] != cfg.expression_dim or clip.shape[0] < 1:
            raise ValueError(f"generate_coefficients: style_clip must be (S >= 1, {cfg.expression_dim}), got {clip.shape}")
        if not np.isfinite(clip).all():
            raise ValueError("generate_coefficients: style_clip contains NaN/inf")
        expression, pad_mask = crop_or_pad_style_clip(clip, cfg.style_max_frames)
        return model.video_style(expression[None].to(device), pad_mask[None].to(device))
    finally:
        model.train(was_training)


@torch.no_grad()
def decode_coefficients(model: TalkCLIP, phonemes: np.ndarray, style: torch.Tensor,
                        chunk_frames: int = 256) -> np.ndarray:
    """(T,) phoneme ids + a style code -> (T, 64) coefficients, in chunks of ``chunk_frames``.

    ``style`` is (1, text_dim) for the whole sequence, or (T, text_dim): one code per frame (a
    style that changes over time, e.g. interpolated between two descriptions). A frame's output
    depends only on its phoneme window and its code, so both give the same result for equal codes.
    """
    ids = check_phonemes(phonemes)
    cfg = model.cfg
    n_frames, w = len(ids), cfg.window
    if style.dim() != 2 or style.shape[0] not in (1, n_frames) or style.shape[1] != model.text_dim:
        raise ValueError(f"decode_coefficients: style must be (1, {model.text_dim}) or ({n_frames}, {model.text_dim}), "
                         f"got {tuple(style.shape)}")
    per_frame = style.shape[0] == n_frames and n_frames > 1
    device = style.device
    was_training = model.training
    model.eval()
    try:
        output = np.empty((n_frames, cfg.expression_dim), np.float32)
        # SIL-padded once; frame t's window is padded[t : t + 2w + 1].
        padded = F.pad(torch.as_tensor(ids, dtype=torch.int64), (w, w), value=SIL_ID)
        for start in range(0, n_frames, chunk_frames):
            stop = min(start + chunk_frames, n_frames)
            windows = padded[start : stop + 2 * w].unfold(0, 2 * w + 1, 1).to(device)  # (stop - start, 2w+1)
            if per_frame:  # every frame its own batch item with its own style code
                decoded = model.decode(windows[:, None], style[start:stop])[:, 0]
            else:
                decoded = model.decode(windows[None], style)[0]
            output[start:stop] = decoded.float().cpu().numpy()
        return output
    finally:
        model.train(was_training)
