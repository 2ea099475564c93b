import json
from pathlib import Path

import numpy as np
import pytest

from talkclip.phonemes import (
    N_PHONEMES,
    PHONE_TO_ID,
    SIL_ID,
    PhoneInterval,
    frame_ids_to_intervals,
    intervals_to_frame_ids,
    normalize_phone,
)

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples" / "styletalk"


def test_vocabulary_matches_styletalk_phindex():
    if not (SAMPLES / "phindex.json").is_file():
        pytest.skip(f"StyleTalk samples not found at {SAMPLES}")
    assert json.loads((SAMPLES / "phindex.json").read_text()) == PHONE_TO_ID
    assert N_PHONEMES == 41 and SIL_ID == 31


@pytest.mark.parametrize("raw, norm", [("AH0", "AH"), ("ey1", "EY"), ("sil", "SIL"), ("+NSN+", "NSN"), ("SP", "SIL")])
def test_normalize_phone(raw, norm):
    assert normalize_phone(raw) == norm


def test_normalize_phone_rejects_unknown_symbols():
    with pytest.raises(ValueError, match="'QQ'"):
        normalize_phone("QQ")


def test_frame_i_takes_the_phone_containing_time_i_over_fps():
    phones = [PhoneInterval("HH", 0.10, 0.18), PhoneInterval("AY", 0.18, 0.40)]
    ids = intervals_to_frame_ids(phones, n_frames=12, fps=25)
    # frames at 0.00, 0.04, 0.08 -> SIL; 0.12, 0.16 -> HH; 0.20 .. 0.36 -> AY; 0.40, 0.44 -> SIL
    expected = ["SIL"] * 3 + ["HH"] * 2 + ["AY"] * 5 + ["SIL"] * 2
    assert [list(PHONE_TO_ID)[i] for i in ids] == expected


def test_frame_intervals_round_trip():
    rng = np.random.default_rng(0)
    ids = np.repeat(rng.integers(0, N_PHONEMES, 20), rng.integers(1, 5, 20))
    back = intervals_to_frame_ids(frame_ids_to_intervals(ids, 30), len(ids), 30)
    assert np.array_equal(back, ids)
