"""SyncNet training on the embedded corpus: batches, losses, weights that load, and (slow) offset recovery."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from talkclip.config.loader import ConfigError
from talkclip.config.syncnet import SyncNetConfig
from talkclip.metrics.syncnet import SyncNet, embed_video_windows, evaluate_sync, load_syncnet, window_count
from talkclip.metrics.syncnet_train import (
    SyncClip,
    SyncTrainError,
    corpus_clip_paths,
    heldout_report,
    load_sync_clip,
    sample_batch,
    shift_audio,
    sync_losses,
    sync_with_video_embeddings,
    train_syncnet,
)

ROOT = Path(__file__).resolve().parents[1]


def _clip(name: str, frames: int, seed: int) -> SyncClip:
    rng = np.random.default_rng(seed)
    return SyncClip(name, rng.integers(0, 255, (frames, 32, 32, 3), dtype=np.uint8), rng.standard_normal((frames * 4, 13)))


def test_shift_audio_delays_by_whole_frames():
    audio = np.arange(3200, dtype=np.float32)
    delayed = shift_audio(audio, 2)
    assert len(delayed) == 3200 and (delayed[:1280] == 0).all() and delayed[1280] == 0.0 and delayed[1281] == 1.0
    assert shift_audio(audio, -1)[0] == 640.0


def test_batch_and_losses():
    cfg = SyncNetConfig(batch_size=3, negatives_per_window=4)
    clips = [_clip("a", 40, 0), _clip("b", 40, 1)]
    video, audio, audio_clip, audio_shift = sample_batch(clips, cfg, np.random.default_rng(0))
    assert video.shape == (3, 3, 5, 224, 224) and audio.shape == (15, 1, 13, 20)
    shifts = audio_shift.view(3, 5)
    assert (shifts[:, 0] == 0).all() and (shifts[:, 1:].abs() >= cfg.min_negative_shift).all()
    groups = audio_clip.view(3, 5)
    assert (groups == groups[:, :1]).all()  # hard negatives: the same clip's audio, only shifted
    # Embeddings where the synchronised audio sits on the video embedding: zero multi-way error.
    video_emb = torch.randn(3, 8)
    audio_emb = video_emb.repeat_interleave(5, dim=0) + 2.0 * (audio_shift != 0).float()[:, None]
    contrastive, multiway, stats = sync_losses(video_emb, audio_emb, audio_shift, 5, margin=1.0, temperature=0.1)
    assert float(contrastive) < 1e-9 and float(multiway) < 1e-6 and stats["match_acc"] == 1.0


def test_training_writes_loadable_small_weights(tmp_path):
    clips = [_clip("a", 30, 0), _clip("b", 30, 1)]
    cfg = SyncNetConfig(steps=2, batch_size=2, negatives_per_window=2, width=0.125, embedding_dim=32, device="cpu")
    model, record = train_syncnet(clips, cfg, tmp_path / "sync.pt", progress=False)
    assert record["steps_done"] == 2 and (tmp_path / "sync.pt.json").is_file()
    loaded = load_syncnet(tmp_path / "sync.pt")
    assert loaded.width == 0.125 and loaded.netfcaud[3].out_features == 32
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key])
    assert SyncNet().state_dict()["netcnnlip.0.weight"].shape == (96, 3, 5, 7, 7)  # width 1 = the reference




@pytest.mark.parametrize("key, value", [("width", 0.0), ("temperature", 0.0), ("min_negative_shift", 16),
                                        ("batch_size", 1), ("learning_rate", float("nan"))])
def test_bad_config_values_name_the_key(key, value):
    with pytest.raises(ConfigError, match=f"syncnet.{key}"):
        SyncNetConfig(**{key: value})


def test_corpus_splits_come_from_corpus_json(tmp_path):
    import json

    for speaker in ("M001", "W002", "M003"):
        video = tmp_path / "mead" / speaker / "video" / "front" / "happy" / "level_1" / "001.mp4"
        wav = tmp_path / "mead" / speaker / "audio" / "happy" / "level_1" / "001.wav"
        for path in (video, wav):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    (tmp_path / "hdtf" / "video").mkdir(parents=True)
    (tmp_path / "hdtf" / "audio").mkdir(parents=True)
    (tmp_path / "hdtf" / "video" / "WRA_x.mp4").touch()
    (tmp_path / "hdtf" / "audio" / "WRA_x.wav").touch()
    speakers = [{"id": "M001", "split": "train"}, {"id": "W002", "split": "val"}, {"id": "M003", "split": "test"}]
    (tmp_path / "corpus.json").write_text(json.dumps({"speakers": speakers}))
    assert [v.parts[-6] for v, _ in corpus_clip_paths(tmp_path, splits=("train",))] == ["M001"]
    assert [v.parts[-6] for v, _ in corpus_clip_paths(tmp_path, splits=("val", "test"))] == ["M003", "W002"]
    assert len(corpus_clip_paths(tmp_path)) == 4  # every clip, HDTF-format included
    with pytest.raises(SyncTrainError, match="split"):
        corpus_clip_paths(tmp_path, splits=("nonexistent",))
    (tmp_path / "corpus.json").unlink()
    with pytest.raises(FileNotFoundError, match="corpus.json"):
        corpus_clip_paths(tmp_path, splits=("train",))


def test_heldout_report_needs_clips_with_audio():
    with pytest.raises(SyncTrainError, match="at least 2 clips"):
        heldout_report(SyncNet(embedding_dim=8, width=0.125), [_clip("a", 40, 0)])


@pytest.fixture(scope="module")
def sync_corpus(tmp_path_factory) -> Path:
    """Three training speakers and one held-out speaker, four emotions (30 + 10 clips, ~30 s to generate).

    Not the session's two-speaker tiny corpus: with its 7 training clips the held-out results depended on
    the CPU (measured, docs/DESIGN.md "Evaluation SyncNet": offset accuracy 1.0 natively, 0.6 with
    ATEN_CPU_CAPABILITY=default, 0.69 on an Intel CPU; training longer made it worse, 0.46 after 800 steps,
    as the network memorised its 7 clips). Training cost is per step, not per clip.
    """
    from talkclip.config.corpus import CorpusConfig
    from talkclip.corpus.generator import generate_corpus

    root = tmp_path_factory.mktemp("sync_corpus") / "corpus"
    generate_corpus(CorpusConfig(seed=3, n_speakers=4, n_test_speakers=1, n_val_speakers=0, clips_per_group=1,
                                 emotions=["angry", "happy", "neutral", "sad"], hdtf_speakers=0,
                                 hdtf_clips_per_speaker=0, workers=2), root, progress=False)
    return root


@pytest.fixture(scope="module")
def trained_syncnet(sync_corpus):
    """The pipeline's recipe (params.yaml `syncnet`, on the CPU) trained on the training speakers; the
    held-out speaker's clips are the held-out ones."""
    import dataclasses

    from talkclip.config.params import load_params

    cfg = dataclasses.replace(load_params(ROOT / "params.yaml").syncnet, device="cpu")
    # One thread, as every test: the suite runs a worker per core, and two threads beside another busy
    # worker made this training several times slower (790 s against 245 s alone, benchmarks/RESULTS.md).
    clips = [load_sync_clip(v, w) for v, w in corpus_clip_paths(sync_corpus, splits=("train",))]
    model, record = train_syncnet(clips, cfg, progress=False)
    held = [load_sync_clip(v, w, keep_audio=True) for v, w in corpus_clip_paths(sync_corpus, splits=("test",))]
    return model, record, held


@pytest.mark.slow
def test_shifted_audio_moves_the_offset_by_the_shift(trained_syncnet):
    """Delaying a held-out clip's audio by k frames moves the offset SyncNet finds by -k.

    Every held-out clip (10) with six shifts: 60 trials. Why 0.7 holds across machines: with this fixture
    and another CPU's numerics emulated (ATEN_CPU_CAPABILITY=default) the share was 0.87 and the held-out
    report's offset accuracy 0.94 (docs/DESIGN.md, "Across CPUs"); the old 7-clip fixture gave 0.50 there.
    The unshifted audio goes through `evaluate_sync`; the shifted ones through `sync_with_video_embeddings`
    on the clip's video embeddings, computed once (checked equal to evaluate_sync on the unshifted audio):
    the video side is 6/7 of the work and does not change with the audio.
    """
    model, record, held = trained_syncnet
    moved = []
    for clip in held:
        base = evaluate_sync(model, clip.frames, clip.audio)
        video_emb = embed_video_windows(model, clip.frames, window_count(len(clip.frames), len(clip.audio)),
                                        batch_size=20)
        same = sync_with_video_embeddings(model, video_emb, clip.audio)
        assert same.offset == base.offset and np.array_equal(same.mean_distances, base.mean_distances)
        for k in (-6, -4, -2, 2, 4, 6):
            moved.append(abs(sync_with_video_embeddings(model, video_emb, shift_audio(clip.audio, k)).offset - base.offset - (-k)) <= 1)
    assert len(moved) == 60 and np.mean(moved) >= 0.7, (np.mean(moved), record)


@pytest.mark.slow
def test_heldout_report_of_a_trained_network(trained_syncnet):
    model, _, held = trained_syncnet
    report = heldout_report(model, held)
    assert report["heldout_clips"] == len(held) == 10
    assert report["offset_accuracy"] >= 0.7, report  # 50 trials; across CPUs: see the test above
    # The true audio gives a clearer distance minimum than another clip's audio.
    assert report["sync_conf_in_sync"] > report["sync_conf_mismatched"], report
