"""Description sentences of TA-MEAD (TalkCLIP sec. 3, "Description Sentence Construction").

The paper's format is ``[SUB] [EMOTION] and speaks with [AU], [AU] ...``:

    "A woman is furious and speaks with brows extremely lowered, upper lids slightly raised."
    "A woman speaks with brows extremely lowered."              (emotion part dropped)
    "A woman is furious."                                        (AU part dropped, or no active AU)
    "A furious woman speaks with brows extremely lowered."       (attributive emotion part)
    "An expressionless man."                                     (the paper's HDTF evaluation text)

Each clip gets several alternatives: the emotion label, subject, verb, AU subset and phrasings are
drawn at random, and the emotion part or the whole AU part is dropped with configured
probabilities, never both. The draws are a pure function of (seed, clip_id, mode), through a
stable hash of the clip id, so annotations are reproducible across runs and machines.

SimAnno (the paper's ablation) describes a clip by its emotion label only: ``[SUB] [EMOTION].``
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal, TypeVar

import numpy as np

from talkclip.config.annotate import AnnotateConfig

from .au_levels import intensity_levels
from .vocabulary import DISFA_AUS, N_AUS, Vocabulary, default_vocabulary

Mode = Literal["full", "simanno"]
MODES: tuple[str, ...] = ("full", "simanno")

# SimAnno with simanno_labels="category": MEAD's category names as adjectives.
CATEGORY_ADJECTIVES: dict[str, str] = {
    "neutral": "neutral", "angry": "angry", "contempt": "contemptuous", "disgusted": "disgusted",
    "fear": "fearful", "happy": "happy", "sad": "sad", "surprised": "surprised",
}

T = TypeVar("T")


class AnnotationError(ValueError):
    """A clip cannot be annotated; the message names the clip id."""


def stable_hash(text: str) -> int:
    """A 64-bit hash that, unlike ``hash()``, does not change between processes."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def clip_rng(seed: int, clip_id: str, mode: str) -> np.random.Generator:
    """The random stream of one clip and mode; independent of the order clips are processed in."""
    return np.random.default_rng([seed, stable_hash(clip_id), MODES.index(mode)])


# Vowel letters that sound like a consonant ("a euphoric", "a unique") and silent h ("an honest").
_CONSONANT_SOUND_PREFIXES = ("eu", "one", "once", "use", "usu", "uti", "unique", "unit", "univ", "unif", "union", "unan")
_VOWEL_SOUND_H_PREFIXES = ("hour", "honest", "honor", "honour", "heir")


def indefinite_article(word: str) -> str:
    """'An' before a vowel sound ('An expressionless', 'An unimpressed'), 'A' otherwise ('A euphoric')."""
    w = word.lower()
    vowel_sound = (w[:1] in ("a", "e", "i", "o", "u") and not w.startswith(_CONSONANT_SOUND_PREFIXES)) or w.startswith(
        _VOWEL_SOUND_H_PREFIXES
    )
    return "An" if vowel_sound else "A"


def _pick(rng: np.random.Generator, options: Sequence[T]) -> T:
    return options[int(rng.integers(len(options)))]


def _emotion_part(
    rng: np.random.Generator, label: str, subjects: Sequence[str], nouns: Sequence[str], config: AnnotateConfig
) -> tuple[str, bool]:
    """("A woman is furious", False) or ("A furious woman", True): the text and whether attributive.

    Multi-word labels ("taken aback") only work predicatively, so they never take the attributive form.
    """
    if " " not in label and rng.random() < config.p_attributive:
        return f"{indefinite_article(label)} {label} {_pick(rng, nouns)}", True
    return f"{_pick(rng, subjects)} {_pick(rng, config.emotion_verbs)} {label}", False


def _au_part(
    rng: np.random.Generator, au_mean: np.ndarray, au_level: np.ndarray, config: AnnotateConfig, vocabulary: Vocabulary
) -> str:
    """'brows extremely lowered, upper lids slightly raised': 1..max_aus active AUs, strongest first.

    The strongest active AU is always mentioned (a description of an intensely angry clip should
    not be only "nose marginally wrinkled"); the others are drawn without replacement with
    probability proportional to their intensity, so every active AU gets described across the
    alternatives while strong ones dominate.
    """
    # Strongest first; ties keep the DISFA order so the result does not depend on the draw order.
    active = sorted(np.flatnonzero(au_level > 0).tolist(), key=lambda i: (-au_mean[i], i))
    n = int(rng.integers(1, min(config.max_aus, len(active)) + 1))
    chosen = active[:1]
    if n > 1:
        others = np.array(active[1:])
        weights = au_mean[others] / au_mean[others].sum()
        chosen += rng.choice(others, size=n - 1, replace=False, p=weights).tolist()
    chosen.sort(key=lambda i: (-au_mean[i], i))
    phrases = []
    for i in chosen:
        entry = vocabulary.aus[DISFA_AUS[i]]
        adverb = _pick(rng, vocabulary.adverbs[int(au_level[i])])
        phrases.append(_pick(rng, entry.phrases).render(adverb))
    return ", ".join(phrases)


def describe_clip(
    clip_id: str,
    gender: str,
    emotion: str,
    level: int,
    au_mean: np.ndarray,
    config: AnnotateConfig,
    mode: Mode = "full",
    vocabulary: Vocabulary | None = None,
) -> list[str]:
    """``config.descriptions_per_clip`` alternative descriptions of one clip.

    ``au_mean`` is the clip's mean AU intensity (12,) in DISFA order (see ``au_levels``); it is
    ignored in SimAnno mode. Alternatives may repeat (each is an independent draw, so that the
    drop probabilities hold exactly).
    """
    vocabulary = vocabulary if vocabulary is not None else default_vocabulary()
    if mode not in MODES:
        raise AnnotationError(f"{clip_id}: unknown annotation mode {mode!r}; expected one of {', '.join(MODES)}")
    if gender not in config.subjects:
        raise AnnotationError(
            f"{clip_id}: gender {gender!r} has no subjects in annotate.subjects (known: {', '.join(sorted(config.subjects))})"
        )
    if isinstance(level, (bool, np.bool_)) or not isinstance(level, (int, np.integer)):
        raise AnnotationError(f"{clip_id}: emotion level must be an integer, got {level!r}")
    group = (emotion, int(level))
    if group not in vocabulary.emotion_labels:
        known = ", ".join(f"{e}/{lv}" for e, lv in vocabulary.emotion_labels)
        raise AnnotationError(f"{clip_id}: emotion {emotion!r} level {level!r} is not in the emotion-label table ({known})")
    au_mean = np.asarray(au_mean, dtype=np.float64)
    if au_mean.shape != (N_AUS,) or not np.isfinite(au_mean).all():
        raise AnnotationError(f"{clip_id}: clip AU intensities must be {N_AUS} finite numbers, got shape {au_mean.shape}")

    rng = clip_rng(config.seed, clip_id, mode)
    subjects = config.subjects[gender]
    nouns = config.attributive_nouns[gender]

    if mode == "simanno":
        if config.simanno_labels == "category":
            labels: tuple[str, ...] = (CATEGORY_ADJECTIVES[emotion],)
        else:
            labels = vocabulary.labels(*group)
        return [
            _emotion_part(rng, _pick(rng, labels), subjects, nouns, config)[0] + "."
            for _ in range(config.descriptions_per_clip)
        ]

    labels = vocabulary.labels(*group)
    au_level = intensity_levels(au_mean, config.au_thresholds)
    has_aus = bool((au_level > 0).any())
    descriptions = []
    for _ in range(config.descriptions_per_clip):
        # One categorical draw decides what is kept, so the two drops are exclusive and each
        # happens with exactly its configured probability (when the clip has active AUs).
        u = rng.random()
        keep_emotion = not has_aus or u >= config.p_drop_emotion
        keep_aus = has_aus and not (config.p_drop_emotion <= u < config.p_drop_emotion + config.p_drop_aus)
        if keep_emotion:
            emotion_text, attributive = _emotion_part(rng, _pick(rng, labels), subjects, nouns, config)
        if keep_aus:
            aus_text = _au_part(rng, au_mean, au_level, config, vocabulary)
        if keep_emotion and keep_aus:
            joiner = " speaks with " if attributive else " and speaks with "
            descriptions.append(f"{emotion_text}{joiner}{aus_text}.")
        elif keep_emotion:
            descriptions.append(f"{emotion_text}.")
        else:
            descriptions.append(f"{_pick(rng, subjects)} speaks with {aus_text}.")
    return descriptions
