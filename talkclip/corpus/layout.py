"""Where the embedded corpus puts each file: MEAD's and HDTF's own layouts (docs/DESIGN.md)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MEAD_DIR = "mead"
HDTF_DIR = "hdtf"
VIEW = "front"


def mead_clip_id(speaker: str, emotion: str, level: int, index: int, view: str = VIEW) -> str:
    """The field's derived clip name, e.g. ``M003_front_angry_level3_001``."""
    return f"{speaker}_{view}_{emotion}_level{level}_{index:03d}"


@dataclass(frozen=True)
class ClipPaths:
    video: Path
    audio: Path
    coeffs: Path
    groundtruth: Path


def mead_paths(root: Path, speaker: str, emotion: str, level: int, index: int) -> ClipPaths:
    speaker_dir = root / MEAD_DIR / speaker
    group = Path(emotion) / f"level_{level}"
    name = f"{index:03d}"
    return ClipPaths(
        video=speaker_dir / "video" / VIEW / group / f"{name}.mp4",
        audio=speaker_dir / "audio" / group / f"{name}.wav",
        coeffs=speaker_dir / "3DMM" / VIEW / group / f"{name}.mat",
        groundtruth=speaker_dir / "groundtruth" / VIEW / group / f"{name}.npz",
    )


def hdtf_paths(root: Path, name: str) -> ClipPaths:
    base = root / HDTF_DIR
    return ClipPaths(
        video=base / "video" / f"{name}.mp4",
        audio=base / "audio" / f"{name}.wav",
        coeffs=base / "3DMM" / f"{name}.mat",
        groundtruth=base / "groundtruth" / f"{name}.npz",
    )


def groundtruth_for_coeffs(coeffs: Path) -> Path:
    """The ground-truth sidecar that sits beside a ``.mat`` in the embedded corpus (may not exist)."""
    parts = list(coeffs.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "3DMM":
            parts[i] = "groundtruth"
            return Path(*parts).with_suffix(".npz")
    return coeffs.with_suffix(".groundtruth.npz")
