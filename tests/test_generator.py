import json

import numpy as np
import pytest
import scipy.io

from talkclip.config.corpus import CorpusConfig
from talkclip.config.loader import ConfigError
from talkclip.corpus.generator import generate_corpus, mead_groups, plan_jobs
from talkclip.formats.media import probe_video, read_audio


def test_mead_groups_are_the_22_of_mead():
    groups = mead_groups()
    assert len(groups) == 22
    assert ("neutral", 1) in groups and ("neutral", 2) not in groups and ("angry", 3) in groups


def test_plan_is_deterministic_and_uses_mead_layout(tmp_path):
    cfg = CorpusConfig(seed=1, n_speakers=3, n_test_speakers=1, hdtf_speakers=1)
    speakers, jobs = plan_jobs(cfg, tmp_path)
    _, again = plan_jobs(cfg, tmp_path)
    assert [j.text for j in jobs] == [j.text for j in again]
    assert [s.split for s in speakers] == ["train", "train", "test", "hdtf"]
    job = next(j for j in jobs if j.emotion == "angry" and j.level == 2)
    rel = job.paths.video.relative_to(tmp_path)
    assert rel.parts[0] == "mead" and rel.parts[2:6] == ("video", "front", "angry", "level_2")
    assert job.paths.audio.relative_to(tmp_path).parts[2:5] == ("audio", "angry", "level_2")
    assert job.clip_id == f"{job.speaker.speaker_id}_front_angry_level2_001"
    assert len(jobs) == 2 * 22 + 22 + cfg.hdtf_clips_per_speaker


def test_validation_speakers_sit_between_train_and_test(tmp_path):
    cfg = CorpusConfig(seed=1, n_speakers=5, n_test_speakers=2, n_val_speakers=1, hdtf_speakers=1)
    speakers, _ = plan_jobs(cfg, tmp_path)
    assert [s.split for s in speakers] == ["train", "train", "val", "test", "test", "hdtf"]
    with pytest.raises(ConfigError, match="n_val_speakers"):
        CorpusConfig(n_speakers=3, n_test_speakers=1, n_val_speakers=2)  # no training speaker left


@pytest.mark.slow
def test_tiny_corpus_files_are_consistent(tiny_corpus):
    meta = json.loads((tiny_corpus / "corpus.json").read_text())
    assert [s["split"] for s in meta["speakers"]] == ["train", "test", "hdtf"]
    videos = sorted((tiny_corpus / "mead").glob("*/video/front/*/level_*/*.mp4"))
    assert len(videos) == 2 * 7  # happy 3 + neutral 1 + sad 3 levels, two speakers
    for video in videos[:3]:
        info = probe_video(video)
        assert info.fps == pytest.approx(30) and info.width == 128
        mat = scipy.io.loadmat(str(video).replace("/video/", "/3DMM/").replace(".mp4", ".mat"))
        assert mat["coeff"].shape == (info.n_frames, 257)
        speaker, _, _, emotion, level, name = video.relative_to(tiny_corpus / "mead").parts
        audio = read_audio(tiny_corpus / "mead" / speaker / "audio" / emotion / level / name.replace(".mp4", ".wav"))
        assert abs(len(audio) / 16000 - info.n_frames / 30) <= 1.5 / 30  # MEAD-like: a frame or so apart
        gt = np.load(str(video).replace("/video/", "/groundtruth/").replace(".mp4", ".npz"))
        assert gt["landmarks"].shape == (info.n_frames, 68, 2) and gt["au"].shape == (info.n_frames, 12)
    hdtf = sorted((tiny_corpus / "hdtf" / "video").glob("*.mp4"))
    assert len(hdtf) == 1 and probe_video(hdtf[0]).fps == pytest.approx(25)
    assert (tiny_corpus / "transcripts.tsv").read_text().count("\n") == 1 + 2 * 7 + 1
    # Contact sheets of the emotion subset: 2 speakers x 3 emotions, and levels 1-3 of happy and sad.
    from PIL import Image

    sheet = Image.open(tiny_corpus / "contact_sheet.png")
    levels = Image.open(tiny_corpus / "contact_sheet_levels.png")
    tile = 128
    assert 3 * tile < sheet.width < 4 * tile and 2 * tile < sheet.height < 3 * tile
    assert 3 * tile < levels.width < 4 * tile and 2 * tile < levels.height < 3 * tile


@pytest.mark.slow
def test_generation_is_deterministic(tmp_path):
    cfg = CorpusConfig(seed=5, n_speakers=1, n_test_speakers=0, emotions=["angry"], hdtf_speakers=0, workers=1)
    generate_corpus(cfg, tmp_path / "a", progress=False)
    generate_corpus(cfg, tmp_path / "b", progress=False)
    files = [f for f in sorted((tmp_path / "a").rglob("*")) if f.is_file()]
    assert len(files) >= 3 * 4
    for f in files:
        twin = tmp_path / "b" / f.relative_to(tmp_path / "a")
        if f.suffix == ".mat":  # the MAT header carries a creation time; compare the arrays
            a, b = scipy.io.loadmat(f), scipy.io.loadmat(twin)
            assert all(np.array_equal(a[k], b[k]) for k in ("coeff", "transform_params")), f
        elif f.suffix != ".json":
            assert f.read_bytes() == twin.read_bytes(), f
