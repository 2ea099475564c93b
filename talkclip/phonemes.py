"""StyleTalk's 41-symbol CMU phoneme vocabulary and conversion of timed phones to frame labels.

The vocabulary and its ids are exactly StyleTalk's ``phindex.json`` (39 CMU ARPAbet phones without
stress, plus ``NSN`` for noise and ``SIL`` for silence), so that phoneme files exchanged in the field
(``*_seq.json``) can be read and written without translation.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

PHONEMES: tuple[str, ...] = (
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH",
    "IH", "IY", "JH", "K", "L", "M", "N", "NG", "NSN", "OW", "OY", "P", "R", "S", "SH", "SIL",
    "T", "TH", "UH", "UW", "V", "W", "Y", "Z", "ZH",
)
PHONE_TO_ID: dict[str, int] = {p: i for i, p in enumerate(PHONEMES)}
SIL_ID = PHONE_TO_ID["SIL"]  # 31, StyleTalk's padding value too
NSN_ID = PHONE_TO_ID["NSN"]  # 24
N_PHONEMES = len(PHONEMES)  # 41

# Non-speech labels that aligners emit; all of them are "no articulation" for a talking head.
_SILENCE_ALIASES = {"SIL", "SP", "SPN", "<SIL>", "<S>", "</S>", "[SIL]", "PAU", "H#", "_", ""}
_NOISE_ALIASES = {"NSN", "+NSN+", "+SPN+", "+BREATH+", "+COUGH+", "+NOISE+", "+UM+", "+UH+", "++NOISE++"}


def normalize_phone(symbol: str) -> str:
    """Map an ARPAbet symbol as aligners print it (``AH0``, ``sil``, ``+NSN+``) to the vocabulary.

    Raises ValueError naming the symbol when it is not an ARPAbet phone.
    """
    s = symbol.strip().upper()
    if s in _SILENCE_ALIASES:
        return "SIL"
    if s in _NOISE_ALIASES or (s.startswith("+") and s.endswith("+")):
        return "NSN"
    s = s.rstrip("012")  # lexical stress
    if s in PHONE_TO_ID:
        return s
    raise ValueError(f"phone {symbol!r} is not in the 41-symbol CMU vocabulary ({', '.join(PHONEMES)})")


def phone_id(symbol: str) -> int:
    return PHONE_TO_ID[normalize_phone(symbol)]


@dataclass(frozen=True)
class PhoneInterval:
    """One phone with its time span in seconds (``start`` inclusive, ``end`` exclusive)."""

    phone: str
    start: float
    end: float

    def __post_init__(self) -> None:
        if self.phone not in PHONE_TO_ID:
            raise ValueError(f"PhoneInterval: {self.phone!r} is not a vocabulary symbol; use normalize_phone()")
        if not self.end >= self.start:
            raise ValueError(f"PhoneInterval {self.phone}: end {self.end} before start {self.start}")


@dataclass(frozen=True)
class WordInterval:
    word: str
    start: float
    end: float


def intervals_to_frame_ids(intervals: Sequence[PhoneInterval], n_frames: int, fps: float) -> np.ndarray:
    """One phoneme id per video frame: frame i takes the phone whose interval contains ``i / fps``.

    This is the field's convention (StyleTalk, DreamTalk). Frames covered by no interval are SIL.
    """
    ids = np.full(n_frames, SIL_ID, dtype=np.int64)
    if n_frames == 0 or not intervals:
        return ids
    times = np.arange(n_frames, dtype=np.float64) / float(fps)
    starts = np.array([iv.start for iv in intervals])
    ends = np.array([iv.end for iv in intervals])
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    labels = np.array([PHONE_TO_ID[intervals[i].phone] for i in order], dtype=np.int64)
    # Index of the last interval starting at or before each frame time.
    idx = np.searchsorted(starts, times, side="right") - 1
    valid = idx >= 0
    inside = np.zeros(n_frames, dtype=bool)
    inside[valid] = times[valid] < ends[idx[valid]]
    ids[inside] = labels[idx[inside]]
    return ids


def frame_ids_to_intervals(ids: Iterable[int], fps: float) -> list[PhoneInterval]:
    """Run-length inverse of :func:`intervals_to_frame_ids` (frame i spans [i/fps, (i+1)/fps))."""
    ids = list(ids)
    out: list[PhoneInterval] = []
    start = 0
    for i in range(1, len(ids) + 1):
        if i == len(ids) or ids[i] != ids[start]:
            if not 0 <= ids[start] < N_PHONEMES:
                raise ValueError(f"phoneme id {ids[start]} at frame {start} is outside 0..{N_PHONEMES - 1}")
            out.append(PhoneInterval(PHONEMES[ids[start]], start / fps, i / fps))
            start = i
    return out
