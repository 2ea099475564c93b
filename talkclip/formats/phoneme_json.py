"""Phoneme files of the field: StyleTalk ``*_seq.json`` and the word/phone aligner JSON.

- StyleTalk ``*_seq.json``: a flat JSON list with one phoneme id (0..40, ``phindex.json`` order,
  :data:`talkclip.phonemes.PHONEMES`) per video frame.
- Aligner JSON (as shipped with the one-shot talking-face samples of the same group, and written by
  common CMU-phone aligners)::

      [{"word": "MY", "phones": [{"ph": "M", "bg": 15, "ed": 30}, {"ph": "AY", "bg": 30, "ed": 36}]},
       {"word": "sil", "phones": [{"ph": "SIL", "bg": 36, "ed": 50}]}, ...]

  with ``bg``/``ed`` in 10 ms units (``ed`` exclusive). Silence is a pseudo-word ``sil``.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from talkclip.atomic import write_text
from talkclip.phonemes import N_PHONEMES, PhoneInterval, WordInterval, normalize_phone

UNITS_PER_SECOND = 100  # aligner JSON times are in 10 ms units
SILENCE_WORD = "sil"
# Pseudo-words that mark non-speech in aligner output; they carry phones but are not words.
_NON_WORDS = {"sil", "sp", "spn", "<sil>", "<s>", "</s>", "", "[sil]", "<noise>", "+nsn+"}


class PhonemeJsonError(ValueError):
    """A phoneme JSON file or value does not have the expected layout."""


class PhonemeJsonNotFoundError(PhonemeJsonError, FileNotFoundError):
    """The phoneme JSON file does not exist."""


def _load_json(path: Path) -> Any:
    if not path.is_file():
        raise PhonemeJsonNotFoundError(f"phoneme file {path} does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PhonemeJsonError(f"phoneme file {path} is not valid JSON: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# StyleTalk per-frame ids


def validate_phoneme_ids(ids: Any, source: str = "phoneme ids") -> np.ndarray:
    """Check a per-frame id sequence (non-empty list of ints in 0..40) and return it as int64."""
    if not isinstance(ids, (list, tuple, np.ndarray)):
        raise PhonemeJsonError(f"{source}: expected a flat list of per-frame phoneme ids, got {type(ids).__name__}")
    if len(ids) == 0:
        raise PhonemeJsonError(f"{source}: empty phoneme sequence (expected one id per video frame)")
    for i, value in enumerate(ids):
        # bool is an int subclass in Python; a JSON true/false is a broken file, not an id.
        is_int = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
        if not is_int:
            raise PhonemeJsonError(
                f"{source}: frame {i} has {value!r} ({type(value).__name__}), expected an integer id"
            )
        if not 0 <= int(value) < N_PHONEMES:
            raise PhonemeJsonError(f"{source}: frame {i} has id {int(value)}, outside 0..{N_PHONEMES - 1}")
    return np.asarray(ids, dtype=np.int64).reshape(-1)


def read_phoneme_seq(path: str | Path) -> np.ndarray:
    """Read a StyleTalk ``*_seq.json`` into a (T,) int64 array of phoneme ids."""
    path = Path(path)
    return validate_phoneme_ids(_load_json(path), source=f"phoneme file {path}")


def write_phoneme_seq(path: str | Path, ids: Iterable[int]) -> None:
    """Write per-frame phoneme ids as a StyleTalk ``*_seq.json`` (flat JSON list), atomically."""
    arr = validate_phoneme_ids(list(ids) if not isinstance(ids, np.ndarray) else ids, source=f"writing {path}")
    write_text(path, json.dumps([int(v) for v in arr]))


# ---------------------------------------------------------------------------------------------
# Aligner JSON [{word, phones: [{ph, bg, ed}]}]


def _time_units(value: Any, where: str) -> int:
    # Aligners write integers; accept integral floats (some tools write 15.0) but nothing else.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PhonemeJsonError(f"{where}: expected an integer time in 10 ms units, got {value!r}")
    if isinstance(value, float) and not (np.isfinite(value) and value == int(value)):
        raise PhonemeJsonError(f"{where}: time {value!r} is not a whole number of 10 ms units")
    if value < 0:
        raise PhonemeJsonError(f"{where}: negative time {value!r}")
    return int(value)


def parse_aligner_json(data: Any, source: str = "aligner JSON") -> tuple[list[PhoneInterval], list[WordInterval]]:
    """Parse aligner JSON data into phone intervals (all, in order) and word intervals (real words only).

    Phones are normalised to the 41-symbol vocabulary (``AH0`` -> ``AH``, ``sil`` -> ``SIL``). A word's
    span is from its first phone's ``bg`` to its last phone's ``ed``; pseudo-words such as ``sil``
    contribute phones but no word.
    """
    if not isinstance(data, list):
        raise PhonemeJsonError(f"{source}: expected a list of {{'word', 'phones'}} objects, got {type(data).__name__}")
    if not data:
        raise PhonemeJsonError(f"{source}: no words")
    phones: list[PhoneInterval] = []
    words: list[WordInterval] = []
    for w_index, entry in enumerate(data):
        where = f"{source}: entry {w_index}"
        if not isinstance(entry, dict) or "word" not in entry or "phones" not in entry:
            raise PhonemeJsonError(f"{where}: expected an object with keys 'word' and 'phones', got {entry!r:.80}")
        word, entry_phones = entry["word"], entry["phones"]
        if not isinstance(word, str):
            raise PhonemeJsonError(f"{where}: 'word' must be a string, got {word!r}")
        if not isinstance(entry_phones, list) or not entry_phones:
            raise PhonemeJsonError(f"{where} ({word!r}): 'phones' must be a non-empty list")
        word_phones: list[PhoneInterval] = []
        for p_index, ph in enumerate(entry_phones):
            p_where = f"{where} ({word!r}) phone {p_index}"
            if not isinstance(ph, dict) or not {"ph", "bg", "ed"} <= set(ph):
                raise PhonemeJsonError(f"{p_where}: expected an object with keys 'ph', 'bg', 'ed', got {ph!r:.80}")
            if not isinstance(ph["ph"], str):
                raise PhonemeJsonError(f"{p_where}: 'ph' must be a string, got {ph['ph']!r}")
            try:
                symbol = normalize_phone(ph["ph"])
            except ValueError as exc:
                raise PhonemeJsonError(f"{p_where}: {exc}") from exc
            bg = _time_units(ph["bg"], f"{p_where} 'bg'")
            ed = _time_units(ph["ed"], f"{p_where} 'ed'")
            if ed < bg:
                raise PhonemeJsonError(f"{p_where}: 'ed' {ed} before 'bg' {bg}")
            if phones and bg / UNITS_PER_SECOND < phones[-1].end - 1e-9:
                raise PhonemeJsonError(
                    f"{p_where}: starts at {bg} (x10 ms), before the previous phone ends "
                    f"({round(phones[-1].end * UNITS_PER_SECOND)})"
                )
            # Division (not * 0.01) gives the double nearest to bg/100, e.g. exactly 0.15 for 15.
            interval = PhoneInterval(symbol, bg / UNITS_PER_SECOND, ed / UNITS_PER_SECOND)
            word_phones.append(interval)
            phones.append(interval)
        if word.strip().lower() not in _NON_WORDS:
            words.append(WordInterval(word, word_phones[0].start, word_phones[-1].end))
    return phones, words


def read_aligner_json(path: str | Path) -> tuple[list[PhoneInterval], list[WordInterval]]:
    """Read an aligner JSON file; see :func:`parse_aligner_json`."""
    path = Path(path)
    return parse_aligner_json(_load_json(path), source=f"aligner file {path}")


def _units(seconds: float) -> int:
    return round(seconds * UNITS_PER_SECOND)


def aligner_json_from_intervals(
    phones: Sequence[PhoneInterval], words: Sequence[WordInterval] = ()
) -> list[dict[str, Any]]:
    """Build aligner JSON data: each phone goes under the word whose span contains its midpoint.

    Phones under no word (pauses, noise) become pseudo-words: ``sil`` for SIL, the phone's own
    name for anything else (e.g. ``NSN``). Times are rounded to 10 ms units.
    """
    ordered_words = sorted(words, key=lambda w: w.start)
    out: list[dict[str, Any]] = []
    current_word: WordInterval | None = None
    for phone in sorted(phones, key=lambda p: p.start):
        mid = 0.5 * (phone.start + phone.end)
        owner = next((w for w in ordered_words if w.start <= mid < w.end), None)
        record = {"ph": phone.phone, "bg": _units(phone.start), "ed": _units(phone.end)}
        if owner is not None and owner is current_word:  # next phone of the same word
            out[-1]["phones"].append(record)
            continue
        current_word = owner
        label = owner.word if owner is not None else (SILENCE_WORD if phone.phone == "SIL" else phone.phone)
        out.append({"word": label, "phones": [record]})
    return out


def write_aligner_json(
    path: str | Path, phones: Sequence[PhoneInterval], words: Sequence[WordInterval] = ()
) -> None:
    """Write phone (and word) intervals as aligner JSON, atomically."""
    if not phones:
        raise PhonemeJsonError(f"refusing to write {path}: no phones")
    write_text(path, json.dumps(aligner_json_from_intervals(phones, words), indent=1))
