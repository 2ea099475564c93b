"""D_sync pretraining: learnable pairs, held-out accuracy above chance, frozen loading."""
import dataclasses

import numpy as np
import pytest
import torch
from test_training_toy import build_toy_dataset, tiny_model_config

from talkclip.config.train import SyncPretrainConfig
from talkclip.training.checkpoint import CheckpointMismatchError
from talkclip.training.data import ClipStore, phoneme_windows_np
from talkclip.training.sync_pretrain import load_sync_discriminator, pretrain_sync, sample_sync_pairs

SYNC = SyncPretrainConfig(seed=0, device="cpu", batch_size=32, lr=3e-3, steps=120, clip_frames=32, min_shift=3,
                          max_shift=12, eval_windows=256, log_every=40)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    root = tmp_path_factory.mktemp("sync")
    processed, _ = build_toy_dataset(root)
    logs = []
    result = pretrain_sync(tiny_model_config(), SYNC, processed, root / "sync.pt",
                           on_log=lambda stage, step, m: logs.append((stage, step, m)))
    return processed, result, logs


def test_pairs_are_balanced_and_negatives_are_out_of_sync(pretrained):
    processed, _, _ = pretrained
    store = ClipStore.load(processed, "train", 32)
    pairs = sample_sync_pairs(store, np.random.default_rng(0), 40, 32, 5, SYNC)
    assert pairs.label.tolist() == [1.0] * 20 + [0.0] * 20
    # Every positive's phonemes are its own frames' (checked by finding the window in some clip).
    def aligned(i):
        expr = pairs.expression[i].numpy()
        for clip in store.clips:
            for s in range(clip.frames - 31):
                if np.array_equal(clip.expression[s : s + 32], expr):
                    return np.array_equal(phoneme_windows_np(clip.phonemes, s, 32, 5), pairs.phoneme_windows[i].numpy())
        raise AssertionError("window not found")
    assert all(aligned(i) for i in range(20))
    assert sum(aligned(i) for i in range(20, 40)) == 0


def test_heldout_accuracy_is_clearly_above_chance(pretrained):
    _, result, logs = pretrained
    assert result.heldout_accuracy > 0.8, result
    assert result.n_test_clips == 6 and result.n_train_clips == 24
    assert [step for _, step, _ in logs] == [40, 80, 120]
    assert logs[-1][2]["loss"] < logs[0][2]["loss"]
    assert "heldout_accuracy" in logs[-1][2]


def test_pretraining_is_deterministic(pretrained, tmp_path):
    processed, _result, _ = pretrained
    again = pretrain_sync(tiny_model_config(), dataclasses.replace(SYNC, steps=3), processed,
                          tmp_path / "a.pt")
    twice = pretrain_sync(tiny_model_config(), dataclasses.replace(SYNC, steps=3), processed,
                          tmp_path / "b.pt")
    a = load_sync_discriminator(again.checkpoint, tiny_model_config()).state_dict()
    b = load_sync_discriminator(twice.checkpoint, tiny_model_config()).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_loaded_discriminator_is_frozen_and_config_checked(pretrained):
    _, result, _ = pretrained
    disc = load_sync_discriminator(result.checkpoint, tiny_model_config())
    assert not disc.training and not any(p.requires_grad for p in disc.parameters())
    # Keys that do not shape D_sync may differ (e.g. the decoder width).
    load_sync_discriminator(result.checkpoint, tiny_model_config(d_model=64))
    with pytest.raises(CheckpointMismatchError, match="model.sync_disc_hidden"):
        load_sync_discriminator(result.checkpoint, tiny_model_config(sync_disc_hidden=8))
