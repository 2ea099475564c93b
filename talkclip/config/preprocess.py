"""Configuration of the preprocessing stage (``params.yaml`` section ``preprocess``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .alignment import AlignerConfig
from .loader import ConfigError


@dataclass(frozen=True)
class PreprocessConfig:
    # Frame rate of the processed dataset. 25 is the field's common rate (SyncNet, PIRender);
    # MEAD's 30 fps clips are resampled to it.
    fps: int = 25
    # Audio and video durations of one clip may differ by at most this much (seconds); beyond it
    # the clip is an error (or a counted skip, see on_error). Within it the shorter one wins.
    max_av_mismatch_s: float = 0.2
    # "raise": the first bad clip stops the stage with an error naming it.
    # "skip": bad clips are skipped, logged, and counted in the stage metrics.
    on_error: Literal["raise", "skip"] = "raise"
    # Frame rate of the 3DMM fits (.mat), which the files do not record. 0: per clip, the video's rate
    # when fit and video last equally long, otherwise 25 or 30 fps, whichever makes them agree
    # (talkclip/preprocess/timing.py). Real MEAD videos are 30 fps, the fits the field distributes
    # (StyleTalk, DreamTalk) 25 fps. `talkclip preprocess --coeffs-fps` overrides it.
    coeffs_fps: float = 0
    # Frame rate assumed for .mat files that come without a video (StyleTalk's style clips).
    mat_fps_without_video: int = 30
    # Speakers held out for testing when the input is a real MEAD folder (the embedded corpus
    # carries its own split in corpus.json).
    test_speakers: list[str] = field(default_factory=list)
    # Speakers held out for validation (hyper-parameter sweeps select on them), real MEAD folders only.
    val_speakers: list[str] = field(default_factory=list)
    # Processes used; 0 means one per CPU core.
    workers: int = 0
    aligner: AlignerConfig = field(default_factory=AlignerConfig)

    def __post_init__(self) -> None:
        if self.fps not in (25, 30):
            raise ConfigError(f"preprocess.fps: expected 25 or 30, got {self.fps}")
        if self.mat_fps_without_video not in (25, 30):
            raise ConfigError(f"preprocess.mat_fps_without_video: expected 25 or 30, got {self.mat_fps_without_video}")
        if not (self.coeffs_fps == 0 or 1 <= self.coeffs_fps <= 120):
            raise ConfigError(f"preprocess.coeffs_fps: expected 0 (infer) or a frame rate in 1..120, got {self.coeffs_fps}")
        if not 0.0 <= self.max_av_mismatch_s <= 5.0:
            raise ConfigError(f"preprocess.max_av_mismatch_s: expected 0..5 seconds, got {self.max_av_mismatch_s}")
        both = sorted(set(self.test_speakers) & set(self.val_speakers))
        if both:
            raise ConfigError(f"preprocess.val_speakers: {both} are also in preprocess.test_speakers")
        if self.workers < 0:
            raise ConfigError(f"preprocess.workers: expected >= 0, got {self.workers}")
