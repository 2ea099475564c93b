"""SyncNet training on the embedded corpus: batches, losses, weights that load, and (slow) offset recovery."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from talkclip.metrics.syncnet import SyncNet, evaluate_sync, load_syncnet
from talkclip.metrics.syncnet_train import (
    SyncClip,
    SyncTrainConfig,
    corpus_clip_paths,
    load_sync_clip,
    sample_batch,
    shift_audio,
    sync_losses,
    train_syncnet,
)


def _clip(name: str, frames: int, seed: int) -> SyncClip:
    rng = np.random.default_rng(seed)
    return SyncClip(name, rng.integers(0, 255, (frames, 32, 32, 3), dtype=np.uint8), rng.standard_normal((frames * 4, 13)))


def test_shift_audio_delays_by_whole_frames():
    audio = np.arange(3200, dtype=np.float32)
    delayed = shift_audio(audio, 2)
    assert len(delayed) == 3200 and (delayed[:1280] == 0).all() and delayed[1280] == 0.0 and delayed[1281] == 1.0
    assert shift_audio(audio, -1)[0] == 640.0


def test_batch_and_losses():
    cfg = SyncTrainConfig(batch_size=3, negatives_per_window=4)
    clips = [_clip("a", 40, 0), _clip("b", 40, 1)]
    video, audio, audio_clip, audio_shift = sample_batch(clips, cfg, np.random.default_rng(0))
    assert video.shape == (3, 3, 5, 224, 224) and audio.shape == (15, 1, 13, 20)
    shifts = audio_shift.view(3, 5)
    assert (shifts[:, 0] == 0).all() and (shifts[:, 1:].abs() >= cfg.min_negative_shift).all()
    # Embeddings where the synchronised audio sits on the video embedding: zero multi-way error.
    video_emb = torch.randn(3, 8)
    audio_emb = video_emb.repeat_interleave(5, dim=0) + 2.0 * (audio_shift != 0).float()[:, None]
    contrastive, multiway, stats = sync_losses(video_emb, audio_emb, audio_shift, 5, margin=1.0, temperature=0.1)
    assert float(contrastive) < 1e-9 and float(multiway) < 1e-6 and stats["match_acc"] == 1.0


def test_training_writes_loadable_small_weights(tmp_path):
    clips = [_clip("a", 30, 0), _clip("b", 30, 1)]
    cfg = SyncTrainConfig(steps=2, batch_size=2, negatives_per_window=2, width=0.125, embedding_dim=32)
    model, record = train_syncnet(clips, cfg, tmp_path / "sync.pt", progress=False)
    assert record["steps_done"] == 2 and (tmp_path / "sync.pt.json").is_file()
    loaded = load_syncnet(tmp_path / "sync.pt")
    assert loaded.width == 0.125 and loaded.netfcaud[3].out_features == 32
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key])
    assert SyncNet().state_dict()["netcnnlip.0.weight"].shape == (96, 3, 5, 7, 7)  # width 1 = the reference


@pytest.mark.slow
@pytest.mark.xfail(
    reason="known gap (issue 4): the SyncNet trained on the embedded corpus for 240 s of CPU does not learn "
    "lip sync yet (held-out offset accuracy 0%, Sync_conf ~0.01); kept running so it shows when it does",
    strict=False,
)
def test_shifted_audio_moves_offset(tiny_corpus, tmp_path):
    """Train on the tiny corpus, hold out one clip: delaying its audio by k frames moves the offset by -k."""
    pairs = corpus_clip_paths(tiny_corpus)
    held_video, held_wav = pairs[0]
    clips = [load_sync_clip(v, w) for v, w in pairs[1:]]
    model, record = train_syncnet(clips, SyncTrainConfig(steps=600, max_seconds=240), tmp_path / "s.pt", progress=False)
    held = load_sync_clip(held_video, held_wav)
    from talkclip.formats.media import read_audio

    audio = read_audio(held_wav)
    base = evaluate_sync(model, held.frames, audio).offset
    for k in (-4, 3):
        offset = evaluate_sync(model, held.frames, shift_audio(audio, k)).offset
        assert abs((offset - base) - (-k)) <= 1, (k, base, offset, record)
