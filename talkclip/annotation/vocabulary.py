"""The TA-MEAD vocabularies: emotion labels per MEAD group and the AU lookup table.

Three tab-separated files ship in ``talkclip/data`` (provenance in ``talkclip/data/README.md``):

- ``emotion_labels.tsv`` (emotion, level, label, source): several adjectives for each of MEAD's
  22 emotion/intensity groups, graded by intensity. The paper's annotators chose labels for each
  group from 135 emotion categories; that list is not public, so a documented vocabulary is used.
- ``au_lookup.tsv`` (au, facs_name, phrasing, body_part, action, source): for each of the 12 DISFA
  AUs one primary phrasing in the style of Hong et al. 2020 ("outer brow" + "lifted") and some
  alternatives.
- ``au_intensity.tsv`` (level, adverb, source): intensity adverbs for AU levels 1..3.

Loading validates everything and names the file, line and column of the first problem.
"""
from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# The 12 AUs of DISFA (Mavadati et al. 2013), in the order AU arrays (T, 12) are stored.
DISFA_AUS: tuple[str, ...] = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU9", "AU12", "AU15", "AU17", "AU20", "AU25", "AU26")
N_AUS = len(DISFA_AUS)

# MEAD's emotions and intensity levels: neutral has level 1 only, 1 + 7 * 3 = 22 groups.
MEAD_EMOTIONS: tuple[str, ...] = ("neutral", "angry", "contempt", "disgusted", "fear", "happy", "sad", "surprised")
MEAD_GROUPS: tuple[tuple[str, int], ...] = (("neutral", 1),) + tuple(
    (emotion, level) for emotion in MEAD_EMOTIONS[1:] for level in (1, 2, 3)
)
AU_INTENSITY_LEVELS: tuple[int, ...] = (1, 2, 3)
MIN_LABELS_PER_GROUP = 4

EMOTION_LABELS_FILE = "emotion_labels.tsv"
AU_LOOKUP_FILE = "au_lookup.tsv"
AU_INTENSITY_FILE = "au_intensity.tsv"

EMOTION_COLUMNS = ("emotion", "level", "label", "source")
AU_LOOKUP_COLUMNS = ("au", "facs_name", "phrasing", "body_part", "action", "source")
AU_INTENSITY_COLUMNS = ("level", "adverb", "source")

# Lower-case words, single spaces and hyphens: labels and phrases are spliced into sentences.
_PHRASE_RE = re.compile(r"[a-z]+(?:[ -][a-z]+)*")


class VocabularyError(ValueError):
    """A vocabulary table is malformed; the message names the file, line and column."""


class _Readable(Protocol):  # pathlib.Path or an importlib.resources Traversable
    def read_text(self, encoding: str = ...) -> str: ...


@dataclass(frozen=True)
class AUPhrase:
    body_part: str  # noun phrase, e.g. "outer brow"
    action: str  # past participle, e.g. "lifted"

    def render(self, adverb: str) -> str:
        """"outer brow" + "extremely" + "lifted" -> "outer brow extremely lifted" (Hong et al. 2020)."""
        return f"{self.body_part} {adverb} {self.action}"


@dataclass(frozen=True)
class AUEntry:
    au: str  # "AU2"
    facs_name: str  # "Outer Brow Raiser"
    phrases: tuple[AUPhrase, ...]  # the primary phrasing first


@dataclass(frozen=True)
class Vocabulary:
    emotion_labels: Mapping[tuple[str, int], tuple[str, ...]]  # (emotion, level) -> labels
    aus: Mapping[str, AUEntry]  # keyed and ordered as DISFA_AUS
    adverbs: Mapping[int, tuple[str, ...]]  # AU level 1..3 -> intensity adverbs

    def labels(self, emotion: str, level: int) -> tuple[str, ...]:
        """Labels of one MEAD group; KeyError for a group the table does not have."""
        return self.emotion_labels[(emotion, level)]

    def au_words(self) -> set[str]:
        """Every word that can appear in an AU phrase (body parts, actions, adverbs)."""
        words: set[str] = {w for advs in self.adverbs.values() for a in advs for w in a.split()}
        for entry in self.aus.values():
            for phrase in entry.phrases:
                words.update(phrase.body_part.split())
                words.update(phrase.action.split())
        return words


def data_file(name: str) -> _Readable:
    """A packaged file of ``talkclip/data`` (works installed or from a source tree)."""
    return importlib.resources.files("talkclip") / "data" / name


def _read_tsv(source: _Readable, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """Rows of a tab-separated file with exactly ``columns`` as header, with their line numbers."""
    name = str(source)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{name}: vocabulary file not found") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise VocabularyError(f"{name}:1: empty file, expected a header with columns {', '.join(columns)}")
    header = lines[0].split("\t")
    missing = [c for c in columns if c not in header]
    if missing:
        raise VocabularyError(
            f"{name}:1: missing column(s) {', '.join(repr(c) for c in missing)}; "
            f"expected tab-separated columns {', '.join(columns)}, got {', '.join(header)}"
        )
    unknown = [c for c in header if c not in columns]
    if unknown or len(header) != len(columns):
        raise VocabularyError(f"{name}:1: unexpected column(s) {unknown or header}; expected exactly {', '.join(columns)}")
    rows = []
    for line_no, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise VocabularyError(
                f"{name}:{line_no}: expected {len(header)} tab-separated fields ({', '.join(header)}), got {len(fields)}"
            )
        row = dict(zip(header, (f.strip() for f in fields)))
        for column, value in row.items():
            if not value:
                raise VocabularyError(f"{name}:{line_no}: column '{column}': empty value")
        rows.append((line_no, row))
    if not rows:
        raise VocabularyError(f"{name}: no rows after the header")
    return rows


def _check_phrase(name: str, line_no: int, column: str, value: str) -> None:
    if not _PHRASE_RE.fullmatch(value):
        raise VocabularyError(
            f"{name}:{line_no}: column '{column}': {value!r} is not a lower-case phrase "
            "(letters, single spaces, hyphens)"
        )


def _parse_level(name: str, line_no: int, column: str, value: str, allowed: tuple[int, ...]) -> int:
    if not value.isdigit() or int(value) not in allowed:
        raise VocabularyError(f"{name}:{line_no}: column '{column}': expected one of {list(allowed)}, got {value!r}")
    return int(value)


def load_emotion_labels(source: _Readable | None = None) -> dict[tuple[str, int], tuple[str, ...]]:
    """Read and validate the emotion-label table: every MEAD group has >= MIN_LABELS_PER_GROUP
    labels, and no label is used twice (so no label names two emotions or two intensities)."""
    source = source if source is not None else data_file(EMOTION_LABELS_FILE)
    name = str(source)
    labels: dict[tuple[str, int], list[str]] = {}
    first_use: dict[str, tuple[int, str, int]] = {}  # label -> (line, emotion, level)
    for line_no, row in _read_tsv(source, EMOTION_COLUMNS):
        emotion = row["emotion"]
        if emotion not in MEAD_EMOTIONS:
            raise VocabularyError(
                f"{name}:{line_no}: column 'emotion': unknown emotion {emotion!r}; expected one of {', '.join(MEAD_EMOTIONS)}"
            )
        allowed_levels = tuple(lv for e, lv in MEAD_GROUPS if e == emotion)
        level = _parse_level(name, line_no, "level", row["level"], allowed_levels)
        label = row["label"]
        _check_phrase(name, line_no, "label", label)
        if label in first_use:
            other_line, other_emotion, other_level = first_use[label]
            raise VocabularyError(
                f"{name}:{line_no}: column 'label': {label!r} is already used on line {other_line} "
                f"({other_emotion} level {other_level}); a label must name one emotion group only"
            )
        first_use[label] = (line_no, emotion, level)
        labels.setdefault((emotion, level), []).append(label)
    for group in MEAD_GROUPS:
        count = len(labels.get(group, []))
        if count < MIN_LABELS_PER_GROUP:
            raise VocabularyError(
                f"{name}: group {group[0]} level {group[1]} has {count} label(s), expected >= {MIN_LABELS_PER_GROUP}"
            )
    return {group: tuple(labels[group]) for group in MEAD_GROUPS}


def load_au_lookup(source: _Readable | None = None) -> dict[str, AUEntry]:
    """Read and validate the AU lookup: the 12 DISFA AUs, one FACS name and exactly one primary
    phrasing each, and no phrase shared by two AUs."""
    source = source if source is not None else data_file(AU_LOOKUP_FILE)
    name = str(source)
    facs_names: dict[str, tuple[int, str]] = {}
    primary: dict[str, AUPhrase] = {}
    alternatives: dict[str, list[AUPhrase]] = {au: [] for au in DISFA_AUS}
    phrase_owner: dict[tuple[str, str], tuple[int, str]] = {}
    for line_no, row in _read_tsv(source, AU_LOOKUP_COLUMNS):
        au = row["au"]
        if au not in DISFA_AUS:
            raise VocabularyError(f"{name}:{line_no}: column 'au': unknown AU {au!r}; expected one of {', '.join(DISFA_AUS)}")
        if au in facs_names and facs_names[au][1] != row["facs_name"]:
            raise VocabularyError(
                f"{name}:{line_no}: column 'facs_name': {row['facs_name']!r} differs from {facs_names[au][1]!r} "
                f"given for {au} on line {facs_names[au][0]}"
            )
        facs_names.setdefault(au, (line_no, row["facs_name"]))
        for column in ("body_part", "action"):
            _check_phrase(name, line_no, column, row[column])
        phrase = AUPhrase(row["body_part"], row["action"])
        key = (phrase.body_part, phrase.action)
        if key in phrase_owner:
            other_line, other_au = phrase_owner[key]
            raise VocabularyError(
                f"{name}:{line_no}: columns 'body_part'/'action': '{phrase.body_part} ... {phrase.action}' "
                f"is already used on line {other_line} ({other_au})"
            )
        phrase_owner[key] = (line_no, au)
        kind = row["phrasing"]
        if kind == "primary":
            if au in primary:
                raise VocabularyError(f"{name}:{line_no}: column 'phrasing': second primary phrasing for {au}")
            primary[au] = phrase
        elif kind == "alternative":
            alternatives[au].append(phrase)
        else:
            raise VocabularyError(f"{name}:{line_no}: column 'phrasing': expected 'primary' or 'alternative', got {kind!r}")
    missing = [au for au in DISFA_AUS if au not in primary]
    if missing:
        raise VocabularyError(f"{name}: no primary phrasing for {', '.join(missing)}")
    return {
        au: AUEntry(au=au, facs_name=facs_names[au][1], phrases=(primary[au], *alternatives[au])) for au in DISFA_AUS
    }


def load_au_intensity(source: _Readable | None = None) -> dict[int, tuple[str, ...]]:
    """Read and validate the intensity adverbs: >= 1 per level 1..3, none used for two levels."""
    source = source if source is not None else data_file(AU_INTENSITY_FILE)
    name = str(source)
    adverbs: dict[int, list[str]] = {level: [] for level in AU_INTENSITY_LEVELS}
    seen: dict[str, int] = {}
    for line_no, row in _read_tsv(source, AU_INTENSITY_COLUMNS):
        level = _parse_level(name, line_no, "level", row["level"], AU_INTENSITY_LEVELS)
        adverb = row["adverb"]
        _check_phrase(name, line_no, "adverb", adverb)
        if adverb in seen:
            raise VocabularyError(f"{name}:{line_no}: column 'adverb': {adverb!r} is already used on line {seen[adverb]}")
        seen[adverb] = line_no
        adverbs[level].append(adverb)
    empty = [level for level, advs in adverbs.items() if not advs]
    if empty:
        raise VocabularyError(f"{name}: no adverb for AU level(s) {empty}")
    return {level: tuple(advs) for level, advs in adverbs.items()}


def load_vocabulary(
    emotion_labels: _Readable | str | Path | None = None,
    au_lookup: _Readable | str | Path | None = None,
    au_intensity: _Readable | str | Path | None = None,
) -> Vocabulary:
    """Load the three tables (packaged defaults where a path is not given)."""
    as_source = lambda p: Path(p) if isinstance(p, (str, Path)) else p
    return Vocabulary(
        emotion_labels=load_emotion_labels(as_source(emotion_labels)),
        aus=load_au_lookup(as_source(au_lookup)),
        adverbs=load_au_intensity(as_source(au_intensity)),
    )


@functools.lru_cache(maxsize=1)
def default_vocabulary() -> Vocabulary:
    """The packaged vocabulary, loaded once."""
    return load_vocabulary()
