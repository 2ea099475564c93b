import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from talkclip.config.preprocess import PreprocessConfig
from talkclip.preprocess.dataset import read_clip, read_manifest
from talkclip.preprocess.stage import ClipError, plan_corpus, plan_styletalk, run_preprocess


@pytest.mark.slow
def test_preprocess_embedded_corpus(tiny_corpus, tmp_path):
    cfg = PreprocessConfig(workers=2)
    tasks, skips = plan_corpus(tiny_corpus, cfg)
    assert not skips and len(tasks) == 2 * 7 + 1
    assert all(t.transcript for t in tasks) and all(t.groundtruth is not None for t in tasks)
    metrics = run_preprocess(tasks, tmp_path / "processed", cfg, progress=False)
    manifest = read_manifest(tmp_path / "processed" / "manifest.csv")
    assert len(manifest) == len(tasks) and set(manifest["split"]) == {"train", "test", "hdtf"}
    assert (manifest["fps"] == 25).all()
    row = manifest.iloc[0]
    clip = read_clip(tmp_path / "processed" / row["path"])
    assert clip.frames == row["frames"] and clip.expression.shape == (row["frames"], 64)
    assert {"phonemes_reference", "au", "landmarks"} <= set(clip.extras)
    # The aligner's labels, not the synthesizer's, are what the model trains on; they agree well.
    assert metrics["frame_agreement_mean"] >= 0.75, metrics
    assert metrics["clips"] == len(tasks) and metrics["skipped"] == 0


@pytest.mark.slow
def test_bad_clip_raises_or_is_counted(tiny_corpus, tmp_path):
    import shutil

    broken = tmp_path / "corpus"
    shutil.copytree(tiny_corpus, broken)
    wav = min((broken / "mead").glob("*/audio/happy/level_1/001.wav"))
    wav.write_bytes(b"RIFF0000WAVEjunk")
    cfg = PreprocessConfig(workers=1)
    tasks, _ = plan_corpus(broken, cfg)
    with pytest.raises(ClipError, match="_front_happy_level1_001"):
        run_preprocess(tasks, tmp_path / "out", cfg, progress=False)
    assert not (tmp_path / "out").exists()  # nothing half-written
    skip_cfg = dataclasses.replace(cfg, on_error="skip")
    metrics = run_preprocess(tasks, tmp_path / "out", skip_cfg, progress=False)
    assert metrics["skipped"] == 1 and metrics["clips"] == len(tasks) - 1
    skipped = pd.read_csv(tmp_path / "out" / "skipped.tsv", sep="\t")
    assert "happy_level1_001" in skipped["item"].iloc[0]


def test_styletalk_samples_are_first_class_inputs(styletalk_samples, tmp_path):
    folder = styletalk_samples / "source_video"
    tasks = plan_styletalk(folder)
    assert len(tasks) == 10 and all(t.phoneme_seq is not None for t in tasks)
    tasks = [t for t in tasks if t.clip_id in ("Obama_clip1", "feifeili_clip2_short")]
    metrics = run_preprocess(tasks, tmp_path / "st", PreprocessConfig(workers=1), progress=False)
    assert metrics["alignment_methods"] == {"phoneme_json": 2}
    manifest = read_manifest(tmp_path / "st" / "manifest.csv")
    obama = read_clip(tmp_path / "st" / manifest.set_index("clip_id").loc["Obama_clip1", "path"])
    seq = json.loads((folder / "phoneme" / "Obama_clip1_seq.json").read_text())
    assert obama.frames == int(np.floor(len(seq) / 30 * 25 + 1e-6))  # 30 -> 25 fps
    assert obama.phonemes[0] == seq[0] and obama.phonemes[25] == seq[30]


@pytest.mark.slow
def test_real_mead_folder_takes_splits_from_the_config(tiny_corpus, tmp_path):
    import shutil

    real = tmp_path / "mead_like"
    shutil.copytree(tiny_corpus, real)
    (real / "corpus.json").unlink()  # a real MEAD folder carries no split
    speakers = sorted(p.name for p in (real / "mead").iterdir())
    cfg = PreprocessConfig(workers=1, test_speakers=[speakers[1]], val_speakers=[speakers[0]])
    tasks, _ = plan_corpus(real, cfg)
    split_of = {t.speaker: t.split for t in tasks if t.split != "hdtf"}
    assert split_of == {speakers[0]: "val", speakers[1]: "test"}
    assert {t.split for t in plan_corpus(real, PreprocessConfig(workers=1))[0]} == {"train", "hdtf"}


def test_a_speaker_cannot_be_both_test_and_validation():
    from talkclip.config.loader import ConfigError

    with pytest.raises(ConfigError, match="val_speakers.*M003"):
        PreprocessConfig(test_speakers=["M003"], val_speakers=["M003", "W004"])
