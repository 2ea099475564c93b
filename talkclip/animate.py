"""One photo + speech + a speaking-style description -> a talking-head video (the paper's promise).

``animate_portrait`` runs the whole path on a CPU, offline:

1. checks every input before any model work: the output path, the style arguments, the photo
   (a face must be found: ``talkclip.portrait.detect``), the audio (not empty, not silent);
2. per-frame phonemes from the speech (``talkclip.generate.phonemes_from_speech``: forced alignment
   with a transcript, phone recognition without, long speech streamed and recognised in windows);
3. expression coefficients from the TalkCLIP checkpoint in the style of the text (T2SS) or of a
   reference clip (V2SS), optionally interpolated between two descriptions over time and scaled
   by an intensity (relative to the same speech in a neutral style);
4. head pose: a little natural motion, or a reference clip's rotations;
5. frames from the landmark-warp renderer (embedded-space models; a BFM-space model only with
   ``convert_space``, through the shipped BFM -> landmark map) or PIRenderer (BFM-space models, with
   StyleTalk's weights), streamed into an H.264 mp4 with the input audio, marked as synthetic, and a
   ``<name>.generation.json`` record beside it (both written together at the end).

Memory does not grow with the video's length beyond the audio itself and the (T, 64) coefficients:
frames are rendered and encoded one at a time.
"""
from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from talkclip.atomic import atomic_path, check_output_file
from talkclip.config.alignment import AlignerConfig
from talkclip.expression import BFM_SPACE, COMPONENT_INDEX, EMBEDDED_SPACE
from talkclip.formats.media import MediaError, read_audio, write_video
from talkclip.generate import MAX_FPS

SAMPLE_RATE = 16000
SILENT_PEAK = 10 ** (-60 / 20)  # a peak below -60 dBFS is silence (or a muted track)
NEUTRAL_TEXT = "A person speaks with a neutral expression."
MAX_INTENSITY = 3.0
RENDERERS = ("warp", "pirenderer")
PIRENDERER_SIZE = 256  # StyleTalk's PIRenderer was trained on 256 px crops
AUDIO_FORMATS = "wav, flac, mp3, m4a/aac, ogg/opus, or the audio track of mp4/mov/mkv"


class SilentAudioError(ValueError):
    """The speech file holds no audible signal."""


@dataclass
class AnimationResult:
    video: Path
    record: Path
    n_frames: int
    fps: float
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per step


def record_path(video: Path) -> Path:
    """``clip.mp4`` -> ``clip.generation.json`` (beside the video; two videos never share a record)."""
    return video.with_name(video.stem + ".generation.json")


def check_speech(audio: np.ndarray, path: Path) -> None:
    if audio.size == 0:
        raise MediaError(f"audio file {path} contains no audio samples")
    peak = float(np.max(np.abs(audio)))
    if peak < SILENT_PEAK:
        level = "digital silence" if peak == 0 else f"peak {20 * np.log10(peak):.0f} dBFS"
        raise SilentAudioError(f"audio file {path} is silent ({level}); give a speech recording")


def load_speech(path: str | Path) -> np.ndarray:
    """16 kHz mono float32 speech; errors name the file, its extension and the formats accepted."""
    path = Path(path)
    try:
        audio = read_audio(path, SAMPLE_RATE)
    except MediaError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        suffix = path.suffix.lower() or "no extension"
        raise MediaError(f"{exc} (file type: {suffix}; expected {AUDIO_FORMATS})") from exc
    check_speech(audio, path)
    return audio


def _smoothstep(n: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(n)
    return t * t * (3 - 2 * t)


def style_expressions(model, phonemes: np.ndarray, *, text: str | None, text_to: str | None,
                      style_clip: np.ndarray | None, intensity: float, backbone=None, **clip_space) -> np.ndarray:
    """(T, 64) coefficients for the speech in the requested style (see the module docstring).

    ``text_to``: the style code moves from ``text``'s to ``text_to``'s over the clip (smoothstep);
    ``intensity``: e = e_neutral + intensity * (e_style - e_neutral), e_neutral being the same
    speech generated with :data:`NEUTRAL_TEXT` (1 = the model's own output, 0 = neutral speech).
    ``clip_space``: ``style_space`` / ``style_source`` of the clip, checked against the model's.
    """
    import torch

    from talkclip.inference import decode_coefficients, style_code
    from talkclip.model.text_backbone import load_text_backbone

    needs_text = text is not None or intensity != 1.0
    if needs_text and backbone is None:
        backbone = load_text_backbone(model.cfg)
    if style_clip is not None:
        code = style_code(model, style_clip=style_clip, **clip_space)
    else:
        code = style_code(model, text=text, backbone=backbone)
        if text_to is not None:
            code_to = style_code(model, text=text_to, backbone=backbone)
            alpha = torch.from_numpy(_smoothstep(len(phonemes)).astype(np.float32))[:, None]
            code = (1 - alpha) * code + alpha * code_to
    expression = decode_coefficients(model, phonemes, code)
    if intensity != 1.0:
        neutral = decode_coefficients(model, phonemes, style_code(model, text=NEUTRAL_TEXT, backbone=backbone))
        expression = neutral + np.float32(intensity) * (expression - neutral)
    return expression


def _check_arguments(out: Path, text: str | None, text_to: str | None, style_clip, intensity: float,
                     renderer: str, renderer_checkpoint, pose_from, size: int, fps: float) -> None:
    if out.suffix.lower() != ".mp4":
        raise ValueError(f"output {out}: expected a .mp4 file name")
    check_output_file(out, "generate: output video")
    if (text is None) == (style_clip is None):
        raise ValueError("give exactly one style: a text description (text=) or a reference clip (style_clip=)")
    if text is not None and not text.strip():
        raise ValueError("the style text is empty; describe the speaking style, e.g. 'A man speaks happily.'")
    if text_to is not None and (text is None or not text_to.strip()):
        raise ValueError("text_to (interpolation) needs a start description (text=) and a non-empty end description")
    if not (np.isfinite(intensity) and 0.0 <= intensity <= MAX_INTENSITY):
        raise ValueError(f"intensity must be in 0..{MAX_INTENSITY:g}, got {intensity}")
    if renderer not in RENDERERS:
        raise ValueError(f"renderer must be one of {RENDERERS}, got {renderer!r}")
    if renderer == "pirenderer" and (renderer_checkpoint is None or pose_from is None):
        raise ValueError("the PIRenderer needs its weights (renderer_checkpoint=, StyleTalk's renderer_checkpoint.pt) "
                         "and a Deep3DFaceRecon .mat for pose and crop (pose_from=)")
    if size < 64 or size % 2 or size > 2048:
        raise ValueError(f"size must be an even number of pixels in 64..2048, got {size}")
    if not (np.isfinite(fps) and 1.0 <= fps <= MAX_FPS):
        raise ValueError(f"fps must be in 1..{MAX_FPS:g}, got {fps}")


def animate_portrait(
    image: str | Path,
    audio: str | Path,
    out: str | Path,
    *,
    checkpoint: str | Path,
    text: str | None = None,
    text_to: str | None = None,
    style_clip: str | Path | None = None,
    style_space: str | None = None,
    convert_style_space: bool = False,
    intensity: float = 1.0,
    transcript: str | None = None,
    renderer: str = "warp",
    convert_space: bool = False,
    renderer_checkpoint: str | Path | None = None,
    pose_from: str | Path | None = None,
    pose_fps: float | None = None,
    size: int = 256,
    fps: float = 25.0,
    visible_mark: bool = False,
    seed: int = 0,
    aligner_cfg: AlignerConfig | None = None,
    backbone=None,
    progress: bool = True,
) -> AnimationResult:
    """Animate the face in ``image`` speaking ``audio`` in a described style; writes ``out`` (.mp4).

    ``style_space`` / ``convert_style_space``: as ``talkclip generate --style-space`` /
    ``--convert-style-space`` for a style clip. ``convert_space``: let a BFM-space checkpoint drive
    the landmark warp through the shipped BFM -> landmark map (an approximation, recorded).
    """
    from tqdm import tqdm

    from talkclip.generate import _style_source, phonemes_from_speech
    from talkclip.inference import load_model
    from talkclip.portrait.detect import crop_portrait
    from talkclip.portrait.image import read_portrait
    from talkclip.portrait.motion import idle_head_motion, loudness_envelope, reference_pose
    from talkclip.portrait.provenance import VisibleMark, synthetic_metadata
    from talkclip.preprocess.spaces import read_style_clip

    out, image, audio_path = Path(out), Path(image), Path(audio)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = round(now - clock, 3)
        clock = now

    # 1. Inputs, before any model work.
    _check_arguments(out, text, text_to, style_clip, intensity, renderer, renderer_checkpoint, pose_from, size, fps)
    crop_size = PIRENDERER_SIZE if renderer == "pirenderer" else size
    portrait = crop_portrait(read_portrait(image), crop_size, where=f"portrait image {image}")
    speech = load_speech(audio_path)
    clip = read_style_clip(style_clip, space=style_space) if style_clip is not None else None
    if not Path(checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint {checkpoint} does not exist (train one with `talkclip train`, or "
                                "`dvc repro train`: models/train/checkpoints/final.pt)")
    lap("inputs")

    # 2. The model and its expression space: the renderer must understand it.
    model, model_cfg = load_model(checkpoint)
    space = model.expression_space
    space_conversion = None
    if renderer == "warp" and space != EMBEDDED_SPACE and not convert_space:
        raise ValueError(
            f"checkpoint {checkpoint} generates {space!r} expression coefficients; the landmark-warp renderer "
            "draws the embedded face model's space. Either convert them through the shipped BFM -> landmark "
            "map (convert_space=True, --convert-space; an approximation: held-out R^2 about 0.4, see "
            "talkclip/metrics/space_map.py) or use renderer='pirenderer' (--renderer pirenderer) with "
            "StyleTalk's PIRenderer weights")
    if renderer == "pirenderer" and space != BFM_SPACE:
        raise ValueError(f"checkpoint {checkpoint} generates {space!r} expression coefficients; PIRenderer was "
                         "trained on BFM coefficients (Deep3DFaceRecon fits). Use the landmark-warp renderer")
    style, style_conversion = _style_source(clip, space, convert_style_space)
    lap("load_model")

    # 3. Phonemes, then coefficients. The text backbone (seconds of imports) loads in a thread
    # meanwhile: pocketsphinx decodes in C, so part of the two overlaps.
    loading = None
    if backbone is None and (text is not None or intensity != 1.0):
        from concurrent.futures import ThreadPoolExecutor

        from talkclip.model.text_backbone import load_text_backbone

        pool = ThreadPoolExecutor(max_workers=1)
        loading = pool.submit(load_text_backbone, model_cfg)
        pool.shutdown(wait=False)
    _, phonemes, method, reliability = phonemes_from_speech(audio_path, transcript, fps, aligner_cfg or AlignerConfig(),
                                                            keep_audio=False, progress=progress)
    lap("align")
    if loading is not None:
        backbone = loading.result()
    clip_space = {k: style[k] for k in ("style_space", "style_source") if k in style}
    expression = style_expressions(model, phonemes, text=text, text_to=text_to, style_clip=style.get("style_clip"),
                                   intensity=intensity, backbone=backbone, **clip_space)
    n_frames = len(expression)
    if renderer == "warp" and space != EMBEDDED_SPACE:
        from talkclip.metrics.space_map import conversion_residual, convert_expression

        space_conversion = {"from": space, "to": EMBEDDED_SPACE, "method": "least squares through the landmark maps",
                            "unexplained_landmark_motion": round(conversion_residual(expression, space,
                                                                                     EMBEDDED_SPACE), 3)}
        expression = convert_expression(expression, space, EMBEDDED_SPACE)
    lap("generate")

    # 4. Pose, 5. the renderer, frames streamed into the video.
    if renderer == "warp":
        from talkclip.portrait.renderer import PortraitWarpRenderer

        if pose_from is not None:
            pose = reference_pose(pose_from, n_frames, fps, pose_fps)
        else:
            pose = idle_head_motion(n_frames, fps, seed, loudness_envelope(speech, n_frames, fps))
        warp = PortraitWarpRenderer(portrait.image, portrait.landmarks)
        frames = warp.frames(expression, pose)
        renderer_info = {"name": warp.name, "kind": "2D landmark-driven piecewise-affine warp of the photo with a "
                         "painted mouth interior (not a neural renderer)", "space_conversion": space_conversion,
                         "photo_rest_state": {name: round(float(warp.rest_expression[COMPONENT_INDEX[name]]), 3)
                                              for name in ("lips_part", "jaw_open", "lip_corner_pull_l")}}
        pose_info = {"source": str(pose_from) if pose_from else "idle motion", "seed": seed}
    else:
        from talkclip.formats.mat3dmm import read_mat
        from talkclip.portrait.motion import loop_track
        from talkclip.portrait.pirenderer import PIRendererRenderer, load_generator

        pose9 = loop_track(read_mat(pose_from).pose9().astype(np.float32), n_frames)
        pirenderer = PIRendererRenderer(portrait.image, load_generator(renderer_checkpoint))
        frames = pirenderer.frames(expression, pose9)
        renderer_info = {"name": pirenderer.name, "kind": "PIRenderer (StyleTalk's release)",
                         "checkpoint": str(renderer_checkpoint)}
        pose_info = {"source": str(pose_from), "pose9": "angles, translation, crop copied as given"}
    mark = VisibleMark((crop_size, crop_size)) if visible_mark else None
    style_info = {"text": text, "text_to": text_to, "style_clip": style.get("style_source"),
                  "style_conversion": style_conversion, "intensity": intensity,
                  "neutral_reference": NEUTRAL_TEXT if intensity != 1.0 else None}
    description = f"TalkCLIP Lab, renderer {renderer_info['name']}, style " + (
        f"text {text!r}" + (f" -> {text_to!r}" if text_to else "") if text is not None else f"clip {style_clip}")
    left, top, side = portrait.source_box
    record = {
        "synthetic": True, "video": out.name, "image": str(image), "audio": str(audio_path), "transcript": transcript,
        "style": style_info, "checkpoint": str(checkpoint),
        "model": {"d_model": model_cfg.d_model, "text_backbone": model_cfg.text_backbone},
        "expression_space": space, "renderer": renderer_info, "pose": pose_info, "phonemes": method,
        "phoneme_reliability": reliability.to_dict(), "fps": fps, "frames": n_frames, "size": crop_size,
        "face": {"faces_found": portrait.detection.n_faces, "box": [round(v, 1) for v in portrait.detection.box],
                 "crop": {"left": round(left, 1), "top": round(top, 1), "side": round(side, 1)}},
        "visible_mark": visible_mark,
    }
    frames = tqdm(frames, total=n_frames, desc="rendering", unit="frame", disable=not progress)
    if mark is not None:
        frames = (mark.apply(frame) for frame in frames)
    # The video and its record are written to temporary files and renamed together: nothing half-written.
    with contextlib.ExitStack() as outputs:
        video_tmp = outputs.enter_context(atomic_path(out))
        record_tmp = outputs.enter_context(atomic_path(record_path(out)))
        write_video(video_tmp, frames, fps, audio=speech[: round(n_frames / fps * SAMPLE_RATE)],
                    sample_rate=SAMPLE_RATE, preset="veryfast", metadata=synthetic_metadata(description))
        lap("render")
        record_tmp.write_text(json.dumps({**record, "seconds": seconds}, indent=2) + "\n")
    return AnimationResult(out, record_path(out), n_frames, fps, seconds)
