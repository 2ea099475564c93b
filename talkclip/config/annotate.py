"""Configuration of the TA-MEAD text annotation (``params.yaml`` section ``annotate``)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from .loader import ConfigError


def _default_subjects() -> dict[str, tuple[str, ...]]:
    # Keys are the manifest's gender codes ("M"/"W", as MEAD speaker ids).
    return {
        "M": ("A man", "The man", "A male speaker"),
        "W": ("A woman", "The woman", "A female speaker"),
        # Speakers of unknown gender (real HDTF / StyleTalk clips without metadata).
        "U": ("A person", "The person", "A speaker"),
    }


def _default_nouns() -> dict[str, tuple[str, ...]]:
    # Nouns of the attributive form "An expressionless man." (the paper's HDTF evaluation text).
    return {"M": ("man", "male speaker"), "W": ("woman", "female speaker"), "U": ("person", "speaker")}


@dataclass(frozen=True)
class AnnotateConfig:
    seed: int = 0
    # Alternative descriptions generated per clip and mode (full, simanno).
    descriptions_per_clip: int = 10
    # Per description: probability that the emotion part, or the whole AU part, is dropped.
    # The two are exclusive (a description keeps at least one part), so they must sum to <= 1.
    p_drop_emotion: float = 0.2
    p_drop_aus: float = 0.2
    # At most this many AU phrases in one sentence.
    max_aus: int = 3
    # Clip-mean AU intensity (0..5, DISFA scale) -> level: below the first threshold the AU is
    # inactive, then levels 1, 2, 3 (a value equal to a threshold gets the higher level).
    au_thresholds: tuple[float, float, float] = (0.5, 1.5, 2.5)
    subjects: dict[str, tuple[str, ...]] = field(default_factory=_default_subjects)
    attributive_nouns: dict[str, tuple[str, ...]] = field(default_factory=_default_nouns)
    emotion_verbs: tuple[str, ...] = ("is", "looks", "appears", "seems")
    # Probability that the emotion part uses the attributive form ("A furious woman ...") instead
    # of the predicative one ("A woman is furious ..."); only for one-word labels.
    p_attributive: float = 0.25
    # SimAnno ablation: "table" uses the emotion-label table (the emotion part of the full
    # annotation), "category" only MEAD's 8 category names as adjectives (angry, happy, ...).
    simanno_labels: Literal["table", "category"] = "table"

    def __post_init__(self) -> None:
        # Direct construction from Python may pass lists; store tuples so the config stays immutable.
        object.__setattr__(self, "au_thresholds", tuple(self.au_thresholds))
        object.__setattr__(self, "emotion_verbs", tuple(self.emotion_verbs))
        object.__setattr__(self, "subjects", {k: tuple(v) for k, v in dict(self.subjects).items()})
        object.__setattr__(self, "attributive_nouns", {k: tuple(v) for k, v in dict(self.attributive_nouns).items()})

        if self.seed < 0:
            raise ConfigError(f"annotate.seed: expected >= 0, got {self.seed}")
        if self.descriptions_per_clip < 1:
            raise ConfigError(f"annotate.descriptions_per_clip: expected >= 1, got {self.descriptions_per_clip}")
        for key in ("p_drop_emotion", "p_drop_aus", "p_attributive"):
            value = getattr(self, key)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"annotate.{key}: expected a probability in [0, 1], got {value}")
        if self.p_drop_emotion + self.p_drop_aus > 1.0 + 1e-12:
            raise ConfigError(
                "annotate.p_drop_emotion + annotate.p_drop_aus: expected <= 1 (a description never drops "
                f"both parts), got {self.p_drop_emotion} + {self.p_drop_aus}"
            )
        if not 1 <= self.max_aus <= 12:
            raise ConfigError(f"annotate.max_aus: expected 1..12 (12 DISFA AUs), got {self.max_aus}")
        t = self.au_thresholds
        if len(t) != 3 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in t):
            raise ConfigError(f"annotate.au_thresholds: expected 3 finite numbers, got {list(t)}")
        if not 0.0 < t[0] < t[1] < t[2] <= 5.0:
            raise ConfigError(
                f"annotate.au_thresholds: expected strictly increasing values in (0, 5] (the AU intensity "
                f"scale), got {list(t)}"
            )
        if self.simanno_labels not in ("table", "category"):
            raise ConfigError(f"annotate.simanno_labels: expected 'table' or 'category', got {self.simanno_labels!r}")
        self._check_phrases("emotion_verbs", self.emotion_verbs)
        for key in ("subjects", "attributive_nouns"):
            mapping = getattr(self, key)
            if not mapping:
                raise ConfigError(f"annotate.{key}: expected at least one gender (e.g. M, W)")
            for gender, phrases in mapping.items():
                self._check_phrases(f"{key}.{gender}", phrases)
        for gender, subjects in self.subjects.items():
            bad = [s for s in subjects if not s[0].isupper()]
            if bad:
                raise ConfigError(f"annotate.subjects.{gender}: a subject starts a sentence, capitalise {bad}")
        if set(self.subjects) != set(self.attributive_nouns):
            raise ConfigError(
                f"annotate.attributive_nouns: expected the same genders as annotate.subjects "
                f"({sorted(self.subjects)}), got {sorted(self.attributive_nouns)}"
            )

    @staticmethod
    def _check_phrases(key: str, phrases: tuple[str, ...]) -> None:
        if not phrases:
            raise ConfigError(f"annotate.{key}: expected a non-empty list of phrases")
        for phrase in phrases:
            if not isinstance(phrase, str) or not phrase.strip() or phrase != phrase.strip():
                raise ConfigError(f"annotate.{key}: expected non-empty phrases without outer spaces, got {phrase!r}")
