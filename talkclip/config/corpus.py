"""Configuration of the embedded corpus generator (``params.yaml`` section ``corpus``)."""
from __future__ import annotations

from dataclasses import dataclass, field

from .loader import ConfigError


@dataclass(frozen=True)
class CorpusConfig:
    seed: int = 0
    # MEAD-format part: speakers, of which the last ``n_test_speakers`` are held out for testing and
    # the ``n_val_speakers`` before them for validation (sweeps and early stopping select on them,
    # so the test split never informs a choice).
    n_speakers: int = 8
    n_test_speakers: int = 2
    n_val_speakers: int = 0
    # Clips per (emotion, level) group and speaker; MEAD has ~30 per emotional group.
    clips_per_group: int = 1
    # Emotions to generate (MEAD's 8 when empty); a subset makes tiny corpora for tests.
    emotions: list[str] = field(default_factory=list)
    # HDTF-format part: unseen speakers, neutral, longer clips (several sentences each).
    hdtf_speakers: int = 2
    hdtf_clips_per_speaker: int = 2
    hdtf_sentences_per_clip: int = 3
    image_size: int = 128
    mead_fps: int = 30
    hdtf_fps: int = 25
    sample_rate: int = 16000
    # Processes used to generate clips; 0 means one per CPU core.
    workers: int = 0

    def __post_init__(self) -> None:
        if self.n_speakers < 1:
            raise ConfigError(f"corpus.n_speakers: expected >= 1, got {self.n_speakers}")
        if not 0 <= self.n_test_speakers < self.n_speakers:
            raise ConfigError(
                f"corpus.n_test_speakers: expected 0 <= value < n_speakers ({self.n_speakers}), got {self.n_test_speakers}"
            )
        if not 0 <= self.n_val_speakers < self.n_speakers - self.n_test_speakers:
            raise ConfigError(
                f"corpus.n_val_speakers: expected 0 <= value < n_speakers - n_test_speakers "
                f"({self.n_speakers - self.n_test_speakers}: at least one training speaker), got {self.n_val_speakers}"
            )
        if self.clips_per_group < 1:
            raise ConfigError(f"corpus.clips_per_group: expected >= 1, got {self.clips_per_group}")
        known = ("angry", "contempt", "disgusted", "fear", "happy", "neutral", "sad", "surprised")
        unknown = [e for e in self.emotions if e not in known]
        if unknown:
            raise ConfigError(f"corpus.emotions: unknown emotion(s) {unknown}; expected MEAD's {list(known)}")
        if self.image_size not in (64, 128, 256, 512):
            raise ConfigError(f"corpus.image_size: expected one of 64, 128, 256, 512, got {self.image_size}")
        for key in ("mead_fps", "hdtf_fps"):
            if getattr(self, key) not in (25, 30):
                raise ConfigError(f"corpus.{key}: expected 25 or 30, got {getattr(self, key)}")
        if self.sample_rate != 16000:
            raise ConfigError(f"corpus.sample_rate: only 16000 is supported (the field's rate), got {self.sample_rate}")
        if self.hdtf_speakers < 0 or self.hdtf_clips_per_speaker < 0 or self.hdtf_sentences_per_clip < 1:
            raise ConfigError("corpus.hdtf_*: counts must be >= 0 (sentences per clip >= 1)")
        if self.workers < 0:
            raise ConfigError(f"corpus.workers: expected >= 0, got {self.workers}")
