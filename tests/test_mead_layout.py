"""Scanning MEAD / HDTF folders into clip records, clip-id helpers, and every naming error."""
from __future__ import annotations

from pathlib import Path

import pytest

from talkclip.formats.mead import (
    MEAD_EMOTIONS,
    ClipRecord,
    LayoutError,
    MeadClipId,
    format_mead_clip_id,
    hdtf_speaker,
    is_mead_clip_id,
    parse_mead_clip_id,
    scan_hdtf,
    scan_mead,
)


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def _mead_clip(root: Path, speaker: str, emotion: str, level_dir: str, name: str, view: str = "front",
               audio_ext: str | None = ".m4a", coeffs: bool = True) -> Path:
    video = _touch(root / speaker / "video" / view / emotion / level_dir / f"{name}.mp4")
    if audio_ext:
        _touch(root / speaker / "audio" / emotion / level_dir / f"{name}{audio_ext}")
    if coeffs:
        _touch(root / speaker / "3DMM" / view / emotion / level_dir / f"{name}.mat")
    return video


def test_clip_id_format_and_parse() -> None:
    assert format_mead_clip_id("M003", "front", "angry", 3, 1) == "M003_front_angry_level3_001"
    assert parse_mead_clip_id("W015_left_30_surprised_level2_027") == MeadClipId("W015", "left_30", "surprised", 2, 27)
    for clip_id in ("M003_front_neutral_level1_040", "W009_down_contempt_level3_999", "M030_right_60_sad_level1_000"):
        assert str(parse_mead_clip_id(clip_id)) == clip_id
    assert is_mead_clip_id("M003_front_happy_level1_001")
    for bad in ("M003_front_happy_level4_001", "M003_front_neutral_level2_001", "M003_front_surprise_level1_001",
                "M003_side_happy_level1_001", "M003_front_happy_level1_01", "M003_front_happy_lvl1_001",
                "WRA_Person_000", "M003_front_happy_level1_001.mp4"):
        assert not is_mead_clip_id(bad), bad
    with pytest.raises(LayoutError, match="neutral clips exist at level 1 only"):
        parse_mead_clip_id("M003_front_neutral_level3_001")
    with pytest.raises(LayoutError, match="unknown emotion 'joy'"):
        format_mead_clip_id("M003", "front", "joy", 1, 1)
    with pytest.raises(LayoutError, match="speaker id"):
        format_mead_clip_id("M_3", "front", "happy", 1, 1)


def test_scan_real_mead_layout(tmp_path: Path) -> None:
    root = tmp_path / "MEAD"
    _mead_clip(root, "M003", "angry", "level_3", "001")
    _mead_clip(root, "M003", "neutral", "level_1", "002", audio_ext=".wav")
    _mead_clip(root, "W009", "surprised", "level_2", "010")
    _mead_clip(root, "W009", "surprised", "level_2", "010", view="left_30")  # other view: not asked for
    _touch(root / "M003" / "video" / "front" / ".DS_Store")  # hidden files are not data
    _touch(root / "README.txt")
    records, skipped = scan_mead(root)
    assert skipped == []
    assert [r.clip_id for r in records] == [
        "M003_front_angry_level3_001", "M003_front_neutral_level1_002", "W009_front_surprised_level2_010"]
    first = records[0]
    assert first == ClipRecord(
        clip_id="M003_front_angry_level3_001", speaker="M003", emotion="angry", level=3, view="front",
        video=root / "M003/video/front/angry/level_3/001.mp4", audio=root / "M003/audio/angry/level_3/001.m4a",
        coeffs=root / "M003/3DMM/front/angry/level_3/001.mat", dataset="mead")
    assert records[1].audio.suffix == ".wav"
    both_views = scan_mead(root, views=("front", "left_30")).records
    assert [r.view for r in both_views if r.speaker == "W009"] == ["front", "left_30"]
    assert both_views[-1].coeffs == root / "W009/3DMM/left_30/surprised/level_2/010.mat"


def test_wav_preferred_over_m4a_and_separate_coeffs_folder(tmp_path: Path) -> None:
    root = tmp_path / "MEAD"
    _mead_clip(root, "M005", "happy", "level_1", "003", coeffs=False)
    wav = _touch(root / "M005" / "audio" / "happy" / "level_1" / "003.wav")
    coeffs_dir = tmp_path / "deep3d"
    mat = _touch(coeffs_dir / "M005_front_happy_level1_003.mat")
    (record,), skipped = scan_mead(root, coeffs_dir=coeffs_dir)
    assert skipped == [] and record.audio == wav and record.coeffs == mat
    # Without the folder the clip has no coefficients: an error naming where it looked.
    with pytest.raises(LayoutError, match=r"no 3DMM coefficients \(looked for .*003.mat\)"):
        scan_mead(root)
    (record,), _ = scan_mead(root, require_coeffs=False)
    assert record.coeffs is None


@pytest.mark.parametrize(
    "relative, match",
    [
        ("M003/video/front/surprise/level_1/001.mp4", "unknown emotion folder 'surprise'"),
        ("M003/video/front/happy/level_4/001.mp4", "bad level folder|level 4 is not one of"),
        ("M003/video/front/happy/lvl1/001.mp4", "bad level folder 'lvl1'"),
        ("M003/video/front/neutral/level_2/001.mp4", "neutral clips exist at level 1 only"),
        ("M003/video/front/happy/level_1/clip1.mp4", "expected clip videos named NNN.mp4"),
        ("M003/video/front/happy/level_1/001.avi", "expected clip videos named NNN.mp4"),
        ("M003/video/sideways/happy/level_1/001.mp4", "unknown view folder 'sideways'"),
        ("speaker3/video/front/happy/level_1/001.mp4", "not a MEAD speaker id"),
    ],
)
def test_layout_errors_strict_and_lenient(tmp_path: Path, relative: str, match: str) -> None:
    root = tmp_path / "MEAD"
    _mead_clip(root, "W020", "sad", "level_1", "001")  # one good clip next to the bad path
    _touch(root / relative)
    with pytest.raises(LayoutError, match=match) as info:
        scan_mead(root)
    assert str(root) in str(info.value)
    records, skipped = scan_mead(root, strict=False)
    assert [r.clip_id for r in records] == ["W020_front_sad_level1_001"]
    assert len(skipped) == 1
    path, reason = skipped[0]
    assert str(root / relative).startswith(str(path)) and reason


def test_missing_audio_reported_per_clip(tmp_path: Path) -> None:
    root = tmp_path / "MEAD"
    _mead_clip(root, "M003", "fear", "level_2", "001", audio_ext=None)
    _mead_clip(root, "M003", "fear", "level_2", "002")
    expected = r"clip M003_front_fear_level2_001 has no audio \(looked for .*001.wav, .*001.m4a\)"
    with pytest.raises(LayoutError, match=expected):
        scan_mead(root)
    records, skipped = scan_mead(root, strict=False)
    assert [r.clip_id for r in records] == ["M003_front_fear_level2_002"]
    assert skipped[0][0] == root / "M003/video/front/fear/level_2/001.mp4"
    records, skipped = scan_mead(root, require_audio=False)
    assert [r.audio is None for r in records] == [True, False] and skipped == []


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match="is not a folder"):
        scan_mead(tmp_path / "nowhere")
    with pytest.raises(LayoutError, match="unknown MEAD view 'side'"):
        scan_mead(tmp_path, views=("side",))
    with pytest.raises(LayoutError, match="has no 'video' folder"):
        scan_hdtf(tmp_path)


def test_scan_embedded_corpus_paths(tmp_path: Path) -> None:
    """The embedded corpus writes MEAD paths with talkclip.corpus.layout; the scanner must find them."""
    layout = pytest.importorskip("talkclip.corpus.layout")
    expected = []
    for emotion in MEAD_EMOTIONS:
        level = 1 if emotion == "neutral" else 2
        paths = layout.mead_paths(tmp_path, "W002", emotion, level, 7)
        for p in (paths.video, paths.audio, paths.coeffs, paths.groundtruth):
            _touch(p)
        expected.append(layout.mead_clip_id("W002", emotion, level, 7))
    records, skipped = scan_mead(tmp_path / layout.MEAD_DIR)
    assert skipped == [] and [r.clip_id for r in records] == sorted(expected)
    hdtf = layout.hdtf_paths(tmp_path, "WRA_Synth01_000")
    for p in (hdtf.video, hdtf.audio, hdtf.coeffs):
        _touch(p)
    (record,), _ = scan_hdtf(tmp_path / layout.HDTF_DIR)
    assert record.coeffs == hdtf.coeffs and record.audio == hdtf.audio


def test_scan_hdtf(tmp_path: Path) -> None:
    root = tmp_path / "HDTF"
    for name in ("WRA_AdamKinzinger_000", "RD_Radio1_001"):
        for sub, ext in (("video", ".mp4"), ("audio", ".wav"), ("3DMM", ".mat")):
            _touch(root / sub / f"{name}{ext}")
    _touch(root / "video" / "OnlyVideo_000.mp4")
    _touch(root / "video" / "notes.txt")
    with pytest.raises(LayoutError, match="OnlyVideo_000 has no audio"):
        scan_hdtf(root)
    records, skipped = scan_hdtf(root, strict=False)
    assert [r.clip_id for r in records] == ["RD_Radio1_001", "WRA_AdamKinzinger_000"]
    assert {r.dataset for r in records} == {"hdtf"} and records[1].speaker == "WRA_AdamKinzinger"
    assert (records[1].emotion, records[1].level, records[1].view) == ("neutral", 1, "front")
    assert sorted(p.name for p, _ in skipped) == ["OnlyVideo_000.mp4", "notes.txt"]
    assert hdtf_speaker("Plain") == "Plain"
