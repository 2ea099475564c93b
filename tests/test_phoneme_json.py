"""StyleTalk *_seq.json and aligner JSON reading/writing, on the real samples and hand-made files."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from talkclip.formats.mat3dmm import read_mat
from talkclip.formats.phoneme_json import (
    PhonemeJsonError,
    aligner_json_from_intervals,
    parse_aligner_json,
    read_aligner_json,
    read_phoneme_seq,
    write_aligner_json,
    write_phoneme_seq,
)
from talkclip.phonemes import PHONE_TO_ID, SIL_ID, PhoneInterval, WordInterval, intervals_to_frame_ids

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples" / "styletalk"
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"StyleTalk samples not found at {SAMPLES}")

# The start of a real aligner file of the field (one-shot talking-face samples): "sil MY FELLOW".
ALIGNER_EXAMPLE = [
    {"word": "sil", "phones": [{"ph": "SIL", "bg": 0, "ed": 15}]},
    {"word": "MY", "phones": [{"ph": "M", "bg": 15, "ed": 30}, {"ph": "AY1", "bg": 30, "ed": 36}]},
    {"word": "FELLOW", "phones": [{"ph": "F", "bg": 36, "ed": 45}, {"ph": "EH", "bg": 45, "ed": 54},
                                  {"ph": "L", "bg": 54, "ed": 57}, {"ph": "ow0", "bg": 57, "ed": 66}]},
    {"word": "sil", "phones": [{"ph": "sil", "bg": 66, "ed": 80}]},
]


@needs_samples
def test_phindex_matches_vocabulary() -> None:
    assert json.loads((SAMPLES / "phindex.json").read_text()) == PHONE_TO_ID


@needs_samples
def test_sample_seq_files_match_their_mats() -> None:
    folder = SAMPLES / "samples" / "source_video"
    seqs = sorted((folder / "phoneme").glob("*_seq.json"))
    assert len(seqs) == 11
    checked = 0
    for seq_path in seqs:
        ids = read_phoneme_seq(seq_path)
        assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() <= 40
        assert (ids == SIL_ID).any(), seq_path  # every real clip has pauses
        name = seq_path.name.removesuffix("_seq.json")
        if name == "intro":  # intro_seq.json has no matching clip
            assert len(ids) == 1400
            continue
        assert len(ids) == read_mat(folder / "3DMM" / f"{name}.mat").n_frames, seq_path
        checked += 1
    assert checked == 10


def test_seq_roundtrip(tmp_path: Path) -> None:
    ids = np.array([31, 31, 21, 5, 5, 13, 31])
    path = tmp_path / "a_seq.json"
    write_phoneme_seq(path, ids)
    assert json.loads(path.read_text()) == ids.tolist()
    np.testing.assert_array_equal(read_phoneme_seq(path), ids)
    write_phoneme_seq(path, [0, 40])
    np.testing.assert_array_equal(read_phoneme_seq(path), [0, 40])


@pytest.mark.parametrize(
    "payload, match",
    [
        ("[]", "empty phoneme sequence"),
        ("[1, 2, 41]", r"frame 2 has id 41, outside 0..40"),
        ("[1, -1]", r"frame 1 has id -1"),
        ("[1, 2.0]", r"frame 1 has 2.0 \(float\), expected an integer"),
        ("[true, 1]", r"frame 0 has True \(bool\)"),
        ('["AA"]', r"frame 0 has 'AA'"),
        ('{"ids": [1]}', "expected a flat list"),
        ("[[1, 2]]", r"frame 0 has \[1, 2\]"),
        ("[1, 2", "not valid JSON"),
    ],
)
def test_bad_seq_files(tmp_path: Path, payload: str, match: str) -> None:
    path = tmp_path / "bad_seq.json"
    path.write_text(payload)
    with pytest.raises(PhonemeJsonError, match=match) as info:
        read_phoneme_seq(path)
    assert str(path) in str(info.value)


def test_missing_seq_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_phoneme_seq(tmp_path / "none_seq.json")
    with pytest.raises(PhonemeJsonError):
        write_phoneme_seq(tmp_path / "x_seq.json", [50])
    assert not (tmp_path / "x_seq.json").exists()


def test_parse_aligner_json() -> None:
    phones, words = parse_aligner_json(ALIGNER_EXAMPLE)
    assert [p.phone for p in phones] == ["SIL", "M", "AY", "F", "EH", "L", "OW", "SIL"]
    assert phones[1] == PhoneInterval("M", 0.15, 0.30)
    assert phones[-1].start == pytest.approx(0.66) and phones[-1].end == pytest.approx(0.80)
    assert words == [WordInterval("MY", 0.15, 0.36), WordInterval("FELLOW", 0.36, 0.66)]
    # Frame labels at 25 fps: frame i takes the phone containing i / 25 s.
    ids = intervals_to_frame_ids(phones, n_frames=21, fps=25)
    assert ids[0] == SIL_ID and ids[4] == PHONE_TO_ID["M"]  # 0.16 s
    assert ids[8] == PHONE_TO_ID["AY"]  # 0.32 s
    assert ids[20] == SIL_ID  # 0.80 s: past the end


def test_aligner_roundtrip(tmp_path: Path) -> None:
    phones, words = parse_aligner_json(ALIGNER_EXAMPLE)
    path = tmp_path / "align.json"
    write_aligner_json(path, phones, words)
    data = json.loads(path.read_text())
    assert [entry["word"] for entry in data] == ["sil", "MY", "FELLOW", "sil"]
    assert data[2]["phones"][3] == {"ph": "OW", "bg": 57, "ed": 66}
    phones2, words2 = read_aligner_json(path)
    assert [(p.phone, round(p.start, 6), round(p.end, 6)) for p in phones2] == \
        [(p.phone, round(p.start, 6), round(p.end, 6)) for p in phones]
    assert words2 == words


def test_aligner_from_intervals_groups_pauses_and_rounds() -> None:
    phones = [PhoneInterval("SIL", 0.0, 0.1), PhoneInterval("NSN", 0.1, 0.2), PhoneInterval("HH", 0.2, 0.2549),
              PhoneInterval("AY", 0.2549, 0.4), PhoneInterval("SIL", 0.4, 0.5)]
    data = aligner_json_from_intervals(phones, [WordInterval("HI", 0.2, 0.4)])
    assert [d["word"] for d in data] == ["sil", "NSN", "HI", "sil"]
    assert data[2]["phones"] == [{"ph": "HH", "bg": 20, "ed": 25}, {"ph": "AY", "bg": 25, "ed": 40}]


@pytest.mark.parametrize(
    "data, match",
    [
        ([], "no words"),
        ({"word": "A"}, "expected a list"),
        ([{"word": "A"}], "keys 'word' and 'phones'"),
        ([{"word": "A", "phones": []}], "non-empty list"),
        ([{"word": "A", "phones": [{"ph": "AH", "bg": 5}]}], "keys 'ph', 'bg', 'ed'"),
        ([{"word": "A", "phones": [{"ph": "QX", "bg": 0, "ed": 5}]}], "'QX' is not in the 41-symbol"),
        ([{"word": "A", "phones": [{"ph": "AH", "bg": 9, "ed": 5}]}], "'ed' 5 before 'bg' 9"),
        ([{"word": "A", "phones": [{"ph": "AH", "bg": -1, "ed": 5}]}], "negative time"),
        ([{"word": "A", "phones": [{"ph": "AH", "bg": 0.5, "ed": 5}]}], "not a whole number"),
        ([{"word": "A", "phones": [{"ph": "AH", "bg": "0", "ed": 5}]}], "expected an integer time"),
        ([{"word": "A", "phones": [{"ph": "AH", "bg": 0, "ed": 9}, {"ph": "B", "bg": 5, "ed": 12}]}],
         "before the previous phone ends"),
        ([{"word": 3, "phones": [{"ph": "AH", "bg": 0, "ed": 5}]}], "'word' must be a string"),
    ],
)
def test_bad_aligner_json(tmp_path: Path, data: object, match: str) -> None:
    path = tmp_path / "bad_align.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PhonemeJsonError, match=match) as info:
        read_aligner_json(path)
    assert str(path) in str(info.value)


def test_integral_float_times_accepted() -> None:
    phones, _ = parse_aligner_json([{"word": "A", "phones": [{"ph": "AH0", "bg": 3.0, "ed": 7.0}]}])
    assert phones == [PhoneInterval("AH", 0.03, 0.07)]
