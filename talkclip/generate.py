"""Text-driven talking-head generation end to end: speech + a description -> coefficients -> video.

The phonemes come from the same aligner as the training data (audio + transcript; phone
recognition without a transcript) or from a StyleTalk ``*_seq.json``; pose is copied from a
reference clip, as in StyleTalk and TalkCLIP (the model does not predict pose). Rendering uses the
embedded-corpus renderer for embedded identities (the sidecar of any of the speaker's clips names
the identity); a PIRenderer checkpoint can implement :class:`talkclip.corpus.renderer.Renderer` for
real faces.

The coefficients are in the expression space of the checkpoint's training data
(:mod:`talkclip.expression`), recorded in ``generation.json``; a style clip of another space, or an
embedded-corpus identity for a model of another space, is refused.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkclip.atomic import atomic_path, write_text
from talkclip.config.alignment import AlignerConfig
from talkclip.expression import EMBEDDED_SPACE, require_same_space
from talkclip.formats.media import read_audio, write_video
from talkclip.formats.phoneme_json import read_phoneme_seq
from talkclip.phonemes import intervals_to_frame_ids
from talkclip.preprocess.alignment import PhonemeAligner, PhonemeReliability, assess_phonemes
from talkclip.preprocess.spaces import StyleClip
from talkclip.preprocess.timing import resample_frames, resample_labels

SAMPLE_RATE = 16000


@dataclass
class GenerationResult:
    expression: np.ndarray  # (T, 64) in expression_space
    phonemes: np.ndarray  # (T,)
    fps: float
    method: str
    video: Path | None
    expression_space: str | None = None


def phonemes_from_speech(
    audio_path: str | Path, transcript: str | None, fps: float, aligner_cfg: AlignerConfig
) -> tuple[np.ndarray, np.ndarray, str, PhonemeReliability]:
    """(audio 16 kHz, per-frame phoneme ids, alignment method, their reliability) for a speech file.

    Unreliable phonemes (noisy audio, no transcript) are warned about (``UserWarning``), naming the file.
    """
    audio = read_audio(audio_path, SAMPLE_RATE)
    n_frames = int(np.floor(len(audio) / SAMPLE_RATE * fps + 1e-6))
    if n_frames < 1:
        raise ValueError(f"{audio_path}: shorter than one frame at {fps:g} fps")
    alignment = PhonemeAligner(aligner_cfg).align(audio, SAMPLE_RATE, transcript)
    reliability = assess_phonemes(audio, SAMPLE_RATE, alignment)
    for message in reliability.warnings:
        warnings.warn(f"{audio_path}: {message}", UserWarning, stacklevel=2)
    return audio, intervals_to_frame_ids(alignment.phones, n_frames, fps), alignment.method, reliability


def phonemes_from_seq_json(path: str | Path, source_fps: float, fps: float) -> np.ndarray:
    ids = read_phoneme_seq(path)
    n_out = int(np.floor(len(ids) / source_fps * fps + 1e-6))
    return resample_labels(ids, source_fps, fps, n_out)


def pose_track(reference_pose: np.ndarray | None, n_frames: int) -> np.ndarray:
    """Pose for ``n_frames`` copied from a reference (looped back and forth when shorter), else frontal."""
    if reference_pose is None or len(reference_pose) == 0:
        return np.zeros((n_frames, 6), dtype=np.float32)
    ref = np.asarray(reference_pose, dtype=np.float32)[:, :6]
    if len(ref) >= n_frames:
        return ref[:n_frames]
    bounce = np.concatenate([ref, ref[::-1]])  # ping-pong avoids a jump at the loop point
    reps = int(np.ceil(n_frames / len(bounce)))
    return np.tile(bounce, (reps, 1))[:n_frames]


def render_embedded(
    sidecar: str | Path, expression: np.ndarray, fps: float, image_size: int, audio: np.ndarray | None, out: Path
) -> Path:
    """Render with the identity (and the pose) of an embedded-corpus ground-truth sidecar."""
    from talkclip.corpus.identity import Identity
    from talkclip.corpus.renderer import FaceRenderer

    sidecar = Path(sidecar)
    if not sidecar.is_file():
        raise FileNotFoundError(f"{sidecar}: identity sidecar (.npz of the embedded corpus) not found")
    with np.load(sidecar, allow_pickle=False) as data:
        if "identity" not in data.files:
            raise ValueError(f"{sidecar}: not an embedded-corpus sidecar (no 'identity' entry)")
        identity = Identity.from_json(str(data["identity"]))
        ref_pose = resample_frames(data["pose"], float(data["fps"]), fps, int(len(data["pose"]) * fps / float(data["fps"])))
    frames, _ = FaceRenderer(identity, image_size=image_size).render(expression, pose_track(ref_pose, len(expression)))
    write_video(out, frames, fps, audio=audio, sample_rate=SAMPLE_RATE)
    return out


def generate(
    checkpoint: str | Path,
    out_dir: str | Path,
    *,
    text: str | None = None,
    style_clip: np.ndarray | StyleClip | None = None,
    audio_path: str | Path | None = None,
    transcript: str | None = None,
    phoneme_seq: str | Path | None = None,
    phoneme_seq_fps: float = 30.0,
    fps: float = 25.0,
    aligner_cfg: AlignerConfig | None = None,
    identity_sidecar: str | Path | None = None,
    image_size: int = 128,
    convert_style: bool = False,
) -> GenerationResult:
    """Coefficients (and, with an embedded-corpus ``identity_sidecar``, a video) in ``out_dir``.

    ``style_clip`` as a :class:`~talkclip.preprocess.spaces.StyleClip` (``read_style_clip``) carries its
    expression space, which must be the checkpoint's; a bare array is taken to be in the checkpoint's space.
    ``convert_style`` instead converts a style clip of another space through the spaces' landmark maps
    (:func:`talkclip.metrics.space_map.convert_expression`; an approximation, recorded in generation.json).
    """
    from talkclip.inference import generate_coefficients, load_model

    out_dir = Path(out_dir)
    audio, reliability = None, None
    if phoneme_seq is not None:
        phonemes, method = phonemes_from_seq_json(phoneme_seq, phoneme_seq_fps, fps), "phoneme_json"
    elif audio_path is not None:
        audio, phonemes, method, reliability = phonemes_from_speech(audio_path, transcript, fps,
                                                                    aligner_cfg or AlignerConfig())
    else:
        raise ValueError("generate: give the speech (audio_path, optional transcript) or a phoneme_seq file")
    model, _ = load_model(checkpoint)
    space = model.expression_space
    if identity_sidecar is not None:
        require_same_space(space, f"checkpoint {checkpoint}", EMBEDDED_SPACE,
                           f"the embedded-corpus identity {identity_sidecar} (rendering draws embedded-space expressions)")
    style: dict = {}
    conversion = None
    if isinstance(style_clip, StyleClip) and convert_style and style_clip.space != space:
        from talkclip.metrics.space_map import conversion_residual, convert_expression

        conversion = {"from": style_clip.space, "to": space, "method": "least squares through the landmark maps",
                      "unexplained_landmark_motion": round(conversion_residual(style_clip.expression, style_clip.space,
                                                                               space), 3)}
        style = {"style_clip": convert_expression(style_clip.expression, style_clip.space, space), "style_space": space,
                 "style_source": f"{style_clip.source}, converted to {space!r} through landmarks"}
    elif isinstance(style_clip, StyleClip):
        style = {"style_clip": style_clip.expression, "style_space": style_clip.space, "style_source": style_clip.source}
    elif style_clip is not None:
        style = {"style_clip": style_clip}
    expression = generate_coefficients(model, phonemes, text=text, **style)
    with atomic_path(out_dir / "coefficients.npy") as tmp:
        np.save(tmp, expression)
    write_text(
        out_dir / "generation.json",
        json.dumps({"text": text, "style_clip": style.get("style_source", "array" if style else None),
                    "fps": fps, "frames": len(phonemes), "phonemes": method, "checkpoint": str(checkpoint),
                    "expression_space": space, "style_conversion": conversion,
                    "phoneme_reliability": reliability.to_dict() if reliability is not None else None},
                   indent=2) + "\n",
    )
    video = None
    if identity_sidecar is not None:
        if audio is not None:
            audio = audio[: int(round(len(expression) / fps * SAMPLE_RATE))]
        video = render_embedded(identity_sidecar, expression, fps, image_size, audio, out_dir / "video.mp4")
    return GenerationResult(expression, phonemes, fps, method, video, space)
