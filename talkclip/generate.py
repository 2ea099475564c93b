"""Text-driven talking-head generation end to end: speech + a description -> coefficients -> video.

The phonemes come from the same aligner as the training data (audio + transcript; phone
recognition without a transcript) or from a StyleTalk ``*_seq.json``; pose is copied from a
reference clip, as in StyleTalk and TalkCLIP (the model does not predict pose). Rendering uses the
embedded-corpus renderer for embedded identities (the sidecar of any of the speaker's clips names
the identity); a PIRenderer checkpoint can implement :class:`talkclip.corpus.renderer.Renderer` for
real faces.

Bad input fails before the work (:func:`check_generation_request`: the output folder, the frame rate
and image size, the identity sidecar, the style text), speech of any length is read and recognised
in bounded memory (``PhonemeAligner.align_stream``), and the outputs are written together at the
end: a failure leaves no file behind, and an earlier generation in the folder stays as it was.

The coefficients are in the expression space of the checkpoint's training data
(:mod:`talkclip.expression`), recorded in ``generation.json``; a style clip of another space, or an
embedded-corpus identity for a model of another space, is refused (or, asked for, the clip is
converted through the spaces' landmark maps).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from talkclip.atomic import atomic_path, check_output_dir
from talkclip.config.alignment import AlignerConfig
from talkclip.corpus.identity import Identity
from talkclip.expression import EMBEDDED_SPACE, require_same_space
from talkclip.formats.media import AAC_FRAME_SIZE, MediaError, iter_audio, probe_audio_duration, read_audio, write_video
from talkclip.formats.phoneme_json import read_phoneme_seq
from talkclip.phonemes import intervals_to_frame_ids
from talkclip.preprocess.alignment import (
    AlignmentError,
    PhonemeAligner,
    PhonemeReliability,
    UnknownWordError,
    assess_phonemes,
)
from talkclip.preprocess.spaces import StyleClip
from talkclip.preprocess.timing import resample_frames, resample_labels

SAMPLE_RATE = 16000
MAX_FPS = 120.0
RENDER_CHUNK_FRAMES = 250  # frames rendered at a time: a long video is encoded in bounded memory
RELIABILITY_SECONDS = 600.0  # the phonemes' reliability is judged on at most this much of the speech


@dataclass
class GenerationResult:
    expression: np.ndarray  # (T, 64)
    phonemes: np.ndarray  # (T,)
    fps: float
    method: str
    video: Path | None
    expression_space: str = EMBEDDED_SPACE


def phonemes_from_speech(
    audio_path: str | Path, transcript: str | None, fps: float, aligner_cfg: AlignerConfig, keep_audio: bool = True,
    progress: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, str, PhonemeReliability]:
    """(audio 16 kHz or None without ``keep_audio``, per-frame phoneme ids, alignment method, their
    reliability) for a speech file.

    The file is decoded and recognised as a stream (memory bounded whatever its length); only
    ``keep_audio`` (for the video's sound track) holds the whole signal. Unreliable phonemes (noisy
    audio, no transcript) are warned about, naming the file; the judgement reads at most the first
    RELIABILITY_SECONDS of the speech.
    """
    stated = probe_audio_duration(audio_path)
    try:
        alignment, duration = PhonemeAligner(aligner_cfg).align_stream(
            iter_audio(audio_path, SAMPLE_RATE), transcript, total_s=stated, progress=progress)
    except (MediaError, UnknownWordError):
        raise
    except AlignmentError as exc:  # NoSpeechError included: keep the kind, name the file
        raise type(exc)(f"audio file {audio_path}: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"audio file {audio_path}: {exc}") from None
    if stated is not None and 0 < duration - stated <= AAC_FRAME_SIZE / 8000:
        duration = stated  # AAC codec padding beyond the stated end (read_audio trims it the same way)
    n_frames = int(np.floor(duration * fps + 1e-6))
    if n_frames < 1:
        raise ValueError(f"audio file {audio_path}: shorter than one frame at {fps:g} fps")
    if transcript is not None and alignment.method == "phone_recognition":
        warnings.warn(f"audio file {audio_path}: the transcript was not used, phonemes come from phone recognition "
                      f"({'; '.join(alignment.fallback_reasons)})", stacklevel=2)
    audio = read_audio(audio_path, SAMPLE_RATE)[: round(n_frames / fps * SAMPLE_RATE)] if keep_audio else None
    reliability = _reliability(audio_path, audio, alignment)
    for message in reliability.warnings:
        warnings.warn(f"audio file {audio_path}: {message}", UserWarning, stacklevel=2)
    return audio, intervals_to_frame_ids(alignment.phones, n_frames, fps), alignment.method, reliability


def _reliability(audio_path: str | Path, audio: np.ndarray | None, alignment) -> PhonemeReliability:
    """assess_phonemes on the audio (its first RELIABILITY_SECONDS when it is not held in memory)."""
    if audio is None:
        limit, chunks, held = int(RELIABILITY_SECONDS * SAMPLE_RATE), [], 0
        for chunk in iter_audio(audio_path, SAMPLE_RATE):
            chunks.append(chunk[: limit - held])
            held += len(chunks[-1])
            if held >= limit:
                break
        audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    seconds = len(audio) / SAMPLE_RATE
    phones = [p for p in alignment.phones if p.start < seconds]
    return assess_phonemes(audio, SAMPLE_RATE, dataclasses.replace(alignment, phones=phones))


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


def _looks_like(path: Path) -> str:
    head = path.open("rb").read(8)
    if head.startswith(b"\x89PNG"):
        return "it is a PNG image; a photo is not an identity sidecar"
    if head.startswith(b"\xff\xd8\xff"):
        return "it is a JPEG image; a photo is not an identity sidecar"
    return "not a NumPy .npz archive"


@dataclass(frozen=True)
class EmbeddedIdentity:
    """What renders a generation: an embedded-corpus face and the reference pose track (at the output rate)."""

    identity: Identity
    pose: np.ndarray  # (N, 6)


def load_identity_sidecar(sidecar: str | Path, fps: float) -> EmbeddedIdentity:
    """The identity and pose of an embedded-corpus ground-truth sidecar (``groundtruth/.../NNN.npz``)."""
    sidecar = Path(sidecar)
    if not sidecar.is_file():
        raise FileNotFoundError(f"{sidecar}: identity sidecar (.npz of the embedded corpus) not found")
    expected = "give the .npz of a clip in the embedded corpus's groundtruth/ folders"
    try:
        archive = np.load(sidecar, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        raise ValueError(f"{sidecar}: not an embedded-corpus identity sidecar ({_looks_like(sidecar)}); {expected}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{sidecar}: a single .npy array, not an embedded-corpus identity sidecar; {expected}")  # noqa: TRY004
    with archive as data:
        missing = [key for key in ("identity", "pose", "fps") if key not in data.files]
        if missing:
            raise ValueError(f"{sidecar}: not an embedded-corpus sidecar (no {', '.join(map(repr, missing))} entry); "
                             f"{expected}")
        try:
            identity = Identity.from_json(str(data["identity"]), where=f"{sidecar}: 'identity'")
            pose, source_fps = np.asarray(data["pose"], np.float32), float(data["fps"])
        except (zipfile.BadZipFile, OSError, KeyError, TypeError) as exc:
            raise ValueError(f"{sidecar}: unreadable identity sidecar ({exc})") from None
    if pose.ndim != 2 or pose.shape[1] < 6 or not len(pose) or not math.isfinite(source_fps) or source_fps <= 0:
        raise ValueError(f"{sidecar}: 'pose' must be (N >= 1, 6) and 'fps' positive, got {pose.shape} and {source_fps}")
    return EmbeddedIdentity(identity, resample_frames(pose, source_fps, fps, int(len(pose) * fps / source_fps)))


def check_generation_request(out_dir: str | Path, fps: float, image_size: int, render: bool) -> Path:
    """Refuse, before any work, an output folder that cannot be written and a frame rate or image size
    that cannot make a video. Returns the output folder."""
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or not 0 < fps <= MAX_FPS:
        raise ValueError(f"generate: fps must be a frame rate in (0, {MAX_FPS:g}], got {fps!r}")
    if render and (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 32
                   or image_size % 2):
        raise ValueError(f"generate: image_size must be an even number of pixels >= 32 (H.264), got {image_size!r}")
    return check_output_dir(out_dir, "generate: output folder")


def _rendered_frames(face: EmbeddedIdentity, expression: np.ndarray, fps: float, image_size: int) -> Iterator[np.ndarray]:
    """The video's frames, rendered RENDER_CHUNK_FRAMES at a time (the renderer is frame by frame)."""
    from talkclip.corpus.renderer import FaceRenderer

    renderer = FaceRenderer(face.identity, image_size=image_size)
    pose = pose_track(face.pose, len(expression))
    with tqdm(total=len(expression), unit="frame", desc="render", leave=False,
              disable=len(expression) <= RENDER_CHUNK_FRAMES) as bar:
        for start in range(0, len(expression), RENDER_CHUNK_FRAMES):
            stop = start + RENDER_CHUNK_FRAMES
            frames, _ = renderer.render(expression[start:stop], pose[start:stop])
            yield from frames
            bar.update(len(frames))


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
    progress: bool = True,
    convert_style: bool = False,
) -> GenerationResult:
    """Coefficients (and, with an embedded-corpus ``identity_sidecar``, a video) in ``out_dir``.

    ``style_clip`` as a :class:`~talkclip.preprocess.spaces.StyleClip` (``read_style_clip``) carries its
    expression space, which must be the checkpoint's; a bare array is taken to be in the checkpoint's space.
    ``convert_style`` instead converts a style clip of another space through the spaces' landmark maps
    (:func:`talkclip.metrics.space_map.convert_expression`; an approximation, recorded in generation.json).
    """
    from talkclip.inference import generate_coefficients, load_model

    # Everything that can be checked without the work is checked first.
    out_dir = check_generation_request(out_dir, fps, image_size, render=identity_sidecar is not None)
    if (text is None) == (style_clip is None):
        raise ValueError("generate: give exactly one style source, a text description or a style clip")
    if (phoneme_seq is None) == (audio_path is None):
        raise ValueError("generate: give the speech (audio_path, optional transcript) or a phoneme_seq file")
    face = load_identity_sidecar(identity_sidecar, fps) if identity_sidecar is not None else None
    model, model_cfg = load_model(checkpoint)
    space = model.expression_space
    if face is not None:
        require_same_space(space, f"checkpoint {checkpoint}", EMBEDDED_SPACE,
                           f"the embedded-corpus identity {identity_sidecar} (rendering draws embedded-space expressions)")
    style, conversion = _style_source(style_clip, space, convert_style)
    backbone = None
    if text is not None:
        from talkclip.model.text_backbone import load_text_backbone

        backbone = load_text_backbone(model_cfg)
    # No frames yet: only the style source is checked (a text the backbone cannot read, a malformed clip).
    generate_coefficients(model, np.zeros(0, np.int64), text=text, backbone=backbone, **style)

    audio, reliability = None, None
    if phoneme_seq is not None:
        phonemes, method = phonemes_from_seq_json(phoneme_seq, phoneme_seq_fps, fps), "phoneme_json"
        if len(phonemes) == 0:
            raise ValueError(f"{phoneme_seq}: shorter than one frame at {fps:g} fps")
    else:
        audio, phonemes, method, reliability = phonemes_from_speech(
            audio_path, transcript, fps, aligner_cfg or AlignerConfig(), keep_audio=face is not None, progress=progress)
    expression = generate_coefficients(model, phonemes, text=text, backbone=backbone, **style)
    settings = {"text": text, "style_clip": style.get("style_source", "array" if style else None), "fps": fps,
                "frames": len(phonemes), "phonemes": method, "checkpoint": str(checkpoint), "expression_space": space,
                "style_conversion": conversion,
                "phoneme_reliability": reliability.to_dict() if reliability is not None else None}
    # All outputs are written to temporary files and renamed together at the end: nothing half-written.
    with contextlib.ExitStack() as outputs:
        np.save(outputs.enter_context(atomic_path(out_dir / "coefficients.npy")), expression)
        outputs.enter_context(atomic_path(out_dir / "generation.json")).write_text(json.dumps(settings, indent=2) + "\n")
        video = None
        if face is not None:
            video = out_dir / "video.mp4"
            frames = _rendered_frames(face, expression, fps, image_size)
            write_video(outputs.enter_context(atomic_path(video)), frames, fps, audio=audio, sample_rate=SAMPLE_RATE)
    return GenerationResult(expression, phonemes, fps, method, video, space)


def _style_source(style_clip: np.ndarray | StyleClip | None, space: str, convert: bool) -> tuple[dict, dict | None]:
    """generate_coefficients' style keywords for a style clip (checked against the model's ``space``, or
    converted to it with ``convert``) and the conversion record; ({}, None) without a clip."""
    if isinstance(style_clip, StyleClip) and convert and style_clip.space != space:
        from talkclip.metrics.space_map import conversion_residual, convert_expression

        conversion = {"from": style_clip.space, "to": space, "method": "least squares through the landmark maps",
                      "unexplained_landmark_motion": round(conversion_residual(style_clip.expression, style_clip.space,
                                                                               space), 3)}
        return {"style_clip": convert_expression(style_clip.expression, style_clip.space, space), "style_space": space,
                "style_source": f"{style_clip.source}, converted to {space!r} through landmarks"}, conversion
    if isinstance(style_clip, StyleClip):
        return {"style_clip": style_clip.expression, "style_space": style_clip.space,
                "style_source": style_clip.source}, None
    return ({"style_clip": style_clip} if style_clip is not None else {}), None
