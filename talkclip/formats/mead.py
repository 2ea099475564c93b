"""Scanning real MEAD and HDTF-like folders into clip records (the embedded corpus uses the same layouts).

MEAD (as downloaded and unpacked)::

    {root}/{ID}/video/{view}/{emotion}/level_{n}/{NNN}.mp4
    {root}/{ID}/audio/{emotion}/level_{n}/{NNN}.m4a      (or .wav, preferred when both exist)
    {root}/{ID}/3DMM/{view}/{emotion}/level_{n}/{NNN}.mat   or   {coeffs_dir}/{clip_id}.mat

with clip ids ``{ID}_{view}_{emotion}_level{n}_{NNN}`` (e.g. ``M003_front_angry_level3_001``).

HDTF-like::

    {root}/video/{name}.mp4, {root}/audio/{name}.wav, {root}/3DMM/{name}.mat   (clip id = name)

Naming problems (unknown emotion, ``level_4``, ``lvl1``, neutral above level 1, odd file names) and
clips missing a required audio/3DMM file raise :class:`LayoutError` naming the path, or, with
``strict=False``, are returned as ``(path, reason)`` skips next to the good records.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

MEAD_EMOTIONS: tuple[str, ...] = ("angry", "contempt", "disgusted", "fear", "happy", "neutral", "sad", "surprised")
MEAD_VIEWS: tuple[str, ...] = ("front", "down", "top", "left_30", "left_60", "right_30", "right_60")
MEAD_LEVELS: tuple[int, ...] = (1, 2, 3)
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".m4a")  # preference order
HDTF_EMOTION, HDTF_LEVEL, HDTF_VIEW = "neutral", 1, "front"  # HDTF is treated as neutral, level 1

_LEVEL_DIR = re.compile(r"level_(\d+)")
_CLIP_FILE = re.compile(r"(\d{3})")
_SPEAKER = re.compile(r"[MW]\d{3}")  # MEAD: M (man) / W (woman) + 3 digits
_CLIP_ID = re.compile(
    r"(?P<speaker>[MW]\d{3})_(?P<view>" + "|".join(MEAD_VIEWS) + r")_(?P<emotion>[a-z]+)"
    r"_level(?P<level>\d+)_(?P<index>\d{3})"
)
_HDTF_SPEAKER = re.compile(r"(?P<speaker>.+?)_\d+")


class LayoutError(ValueError):
    """A folder or file does not follow the MEAD/HDTF layout."""


@dataclass(frozen=True)
class MeadClipId:
    speaker: str
    view: str
    emotion: str
    level: int
    index: int

    def __str__(self) -> str:
        return format_mead_clip_id(self.speaker, self.view, self.emotion, self.level, self.index)


def emotion_level_problem(emotion: str, level: int) -> str | None:
    """Why (emotion, level) is not a MEAD group (neutral exists at level 1 only), or None."""
    if emotion not in MEAD_EMOTIONS:
        return f"unknown emotion {emotion!r}; MEAD emotions are {', '.join(MEAD_EMOTIONS)}"
    if level not in MEAD_LEVELS:
        return f"level {level} is not one of {MEAD_LEVELS}"
    if emotion == "neutral" and level != 1:
        return f"neutral clips exist at level 1 only, got level {level}"
    return None


def check_emotion_level(emotion: str, level: int, where: str) -> None:
    """Raise LayoutError (prefixed with ``where``) unless (emotion, level) is a MEAD group."""
    problem = emotion_level_problem(emotion, level)
    if problem is not None:
        raise LayoutError(f"{where}: {problem}")


def format_mead_clip_id(speaker: str, view: str, emotion: str, level: int, index: int) -> str:
    """``M003_front_angry_level3_001``; validates every part."""
    where = f"clip id for {speaker}/{view}/{emotion}/level {level}/{index}"
    if not _SPEAKER.fullmatch(speaker):
        raise LayoutError(f"{where}: speaker id {speaker!r} is not like 'M003'")
    if view not in MEAD_VIEWS:
        raise LayoutError(f"{where}: unknown view {view!r}; MEAD views are {', '.join(MEAD_VIEWS)}")
    check_emotion_level(emotion, level, where)
    if not 0 <= index <= 999:
        raise LayoutError(f"{where}: clip index {index} is outside 0..999")
    return f"{speaker}_{view}_{emotion}_level{level}_{index:03d}"


def parse_mead_clip_id(clip_id: str) -> MeadClipId:
    """Inverse of :func:`format_mead_clip_id`; LayoutError naming the id when it is malformed."""
    match = _CLIP_ID.fullmatch(clip_id)
    if match is None:
        raise LayoutError(f"clip id {clip_id!r} is not of the form {{ID}}_{{view}}_{{emotion}}_level{{n}}_{{NNN}}")
    parsed = MeadClipId(
        speaker=match["speaker"], view=match["view"], emotion=match["emotion"],
        level=int(match["level"]), index=int(match["index"]),
    )
    check_emotion_level(parsed.emotion, parsed.level, f"clip id {clip_id!r}")
    return parsed


def is_mead_clip_id(clip_id: str) -> bool:
    try:
        parse_mead_clip_id(clip_id)
    except LayoutError:
        return False
    return True


@dataclass(frozen=True)
class ClipRecord:
    """One clip found on disk. ``audio``/``coeffs`` are None when absent and not required."""

    clip_id: str
    speaker: str
    emotion: str
    level: int
    view: str
    video: Path
    audio: Path | None
    coeffs: Path | None
    dataset: Literal["mead", "hdtf"]


class ScanResult(NamedTuple):
    """``records, skipped = scan_mead(...)``: good clips sorted by id, and ``(path, reason)`` skips."""

    records: list[ClipRecord]
    skipped: list[tuple[Path, str]]


class _Collector:
    """Raises in strict mode, otherwise remembers the problem and lets the scan go on."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.skipped: list[tuple[Path, str]] = []

    def problem(self, path: Path, reason: str) -> None:
        if self.strict:
            raise LayoutError(f"{path}: {reason}")
        self.skipped.append((path, reason))


def _visible_children(folder: Path) -> list[Path]:
    # Hidden entries (.DS_Store, ._M003 from macOS archives, .tmp files of atomic writes) are not data.
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _parse_level_dir(name: str) -> int | None:
    match = _LEVEL_DIR.fullmatch(name)
    return int(match[1]) if match else None


def _first_existing(candidates: list[Path]) -> Path | None:
    return next((p for p in candidates if p.is_file()), None)


def _attach(
    collector: _Collector,
    video: Path,
    clip_id: str,
    audio_candidates: list[Path],
    coeffs_candidates: list[Path],
    require_audio: bool,
    require_coeffs: bool,
) -> tuple[Path | None, Path | None] | None:
    """Find the audio and coeffs of one clip; report what is missing. None: the clip is skipped."""
    audio = _first_existing(audio_candidates)
    coeffs = _first_existing(coeffs_candidates)
    missing = []
    if audio is None and require_audio:
        missing.append("audio (looked for " + ", ".join(str(p) for p in audio_candidates) + ")")
    if coeffs is None and require_coeffs:
        missing.append("3DMM coefficients (looked for " + ", ".join(str(p) for p in coeffs_candidates) + ")")
    if missing:
        collector.problem(video, f"clip {clip_id} has no " + " and no ".join(missing))
        return None
    return audio, coeffs


def scan_mead(
    root: str | Path,
    views: tuple[str, ...] = ("front",),
    coeffs_dir: str | Path | None = None,
    require_audio: bool = True,
    require_coeffs: bool = True,
    strict: bool = True,
) -> ScanResult:
    """Find every MEAD clip under ``root`` for the given camera ``views``.

    A speaker folder is any folder of ``root`` holding a ``video`` folder. 3DMM files are looked up
    at ``{ID}/3DMM/{view}/...`` and, when ``coeffs_dir`` is given, as ``{coeffs_dir}/{clip_id}.mat``
    (the separate-folder convention); the former wins when both exist.
    """
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(f"MEAD root {root} is not a folder")
    for view in views:
        if view not in MEAD_VIEWS:
            raise LayoutError(f"unknown MEAD view {view!r}; views are {', '.join(MEAD_VIEWS)}")
    coeffs_folder = Path(coeffs_dir) if coeffs_dir is not None else None
    if coeffs_folder is not None and not coeffs_folder.is_dir():
        raise LayoutError(f"3DMM folder {coeffs_folder} is not a folder")

    collector = _Collector(strict)
    records: list[ClipRecord] = []
    for speaker_dir in _visible_children(root):
        if not (speaker_dir / "video").is_dir():
            continue  # not a speaker folder (e.g. the separate 3DMM folder, a README)
        speaker = speaker_dir.name
        if not _SPEAKER.fullmatch(speaker):
            collector.problem(speaker_dir, f"speaker folder {speaker!r} is not a MEAD speaker id like 'M003'")
            continue
        for view_dir in _visible_children(speaker_dir / "video"):
            if view_dir.name not in MEAD_VIEWS:
                views_list = ", ".join(MEAD_VIEWS)
                collector.problem(view_dir, f"unknown view folder {view_dir.name!r}; MEAD views are {views_list}")
                continue
            if view_dir.name not in views or not view_dir.is_dir():
                continue
            for emotion_dir in _visible_children(view_dir):
                emotion = emotion_dir.name
                if not emotion_dir.is_dir():
                    collector.problem(emotion_dir, "expected an emotion folder, found a file")
                    continue
                if emotion not in MEAD_EMOTIONS:
                    known = ", ".join(MEAD_EMOTIONS)
                    collector.problem(emotion_dir, f"unknown emotion folder {emotion!r}; MEAD emotions are {known}")
                    continue
                for level_dir in _visible_children(emotion_dir):
                    level = _parse_level_dir(level_dir.name)
                    if level is None or not level_dir.is_dir():
                        collector.problem(
                            level_dir, f"bad level folder {level_dir.name!r}; expected level_1, level_2 or level_3"
                        )
                        continue
                    problem = emotion_level_problem(emotion, level)
                    if problem is not None:
                        collector.problem(level_dir, problem)
                        continue
                    for video in _visible_children(level_dir):
                        match = _CLIP_FILE.fullmatch(video.stem)
                        if video.suffix.lower() != ".mp4" or match is None:
                            collector.problem(video, "expected clip videos named NNN.mp4 (e.g. 001.mp4)")
                            continue
                        index = int(match[1])
                        clip_id = format_mead_clip_id(speaker, view_dir.name, emotion, level, index)
                        group = Path(emotion) / f"level_{level}"
                        audio_candidates = [
                            speaker_dir / "audio" / group / f"{video.stem}{ext}" for ext in AUDIO_EXTENSIONS
                        ]
                        coeffs_candidates = [speaker_dir / "3DMM" / view_dir.name / group / f"{video.stem}.mat"]
                        if coeffs_folder is not None:
                            coeffs_candidates.append(coeffs_folder / f"{clip_id}.mat")
                        found = _attach(collector, video, clip_id, audio_candidates, coeffs_candidates,
                                        require_audio, require_coeffs)
                        if found is None:
                            continue
                        records.append(ClipRecord(
                            clip_id=clip_id, speaker=speaker, emotion=emotion, level=level, view=view_dir.name,
                            video=video, audio=found[0], coeffs=found[1], dataset="mead",
                        ))
    records.sort(key=lambda r: r.clip_id)
    return ScanResult(records, collector.skipped)


def hdtf_speaker(name: str) -> str:
    """HDTF names are ``{prefix}_{Person}_{NNN}`` (``WRA_AdamKinzinger_000``): the speaker drops the index."""
    match = _HDTF_SPEAKER.fullmatch(name)
    return match["speaker"] if match else name


def scan_hdtf(
    root: str | Path,
    require_audio: bool = True,
    require_coeffs: bool = True,
    strict: bool = True,
) -> ScanResult:
    """Find every ``video/{name}.mp4`` under an HDTF-like ``root`` with its audio and 3DMM file."""
    root = Path(root)
    video_dir = root / "video"
    if not video_dir.is_dir():
        raise LayoutError(f"HDTF root {root} has no 'video' folder")
    collector = _Collector(strict)
    records: list[ClipRecord] = []
    for video in _visible_children(video_dir):
        if video.suffix.lower() != ".mp4" or not video.is_file():
            collector.problem(video, "expected clip videos named {name}.mp4")
            continue
        name = video.stem
        audio_candidates = [root / "audio" / f"{name}{ext}" for ext in AUDIO_EXTENSIONS]
        coeffs_candidates = [root / "3DMM" / f"{name}.mat"]
        found = _attach(collector, video, name, audio_candidates, coeffs_candidates, require_audio, require_coeffs)
        if found is None:
            continue
        records.append(ClipRecord(
            clip_id=name, speaker=hdtf_speaker(name), emotion=HDTF_EMOTION, level=HDTF_LEVEL, view=HDTF_VIEW,
            video=video, audio=found[0], coeffs=found[1], dataset="hdtf",
        ))
    records.sort(key=lambda r: r.clip_id)
    return ScanResult(records, collector.skipped)
