"""Checkpoints: exact round trip, weights_only loading, RNG states, config mismatch errors."""
import random

import numpy as np
import pytest
import torch

from talkclip.training.checkpoint import (
    RESUMABLE_TRAIN_KEYS,
    CheckpointError,
    CheckpointMismatchError,
    capture_rng_state,
    check_config,
    load_checkpoint,
    restore,
    restore_rng_state,
    save_checkpoint,
)


def _net_and_optimizer(seed: int):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    return net, optimizer


def _train(net, optimizer, steps: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(16, 4, generator=gen)
        loss = net(x).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


CONFIG = {"model": {"d_model": 32, "n_layers": 1}, "train": {"lr": 1e-3, "log_every": 10, "stage2_steps": 5}}


def test_round_trip_restores_modules_and_optimizers_exactly(tmp_path):
    net, optimizer = _net_and_optimizer(0)
    _train(net, optimizer, 3)
    path = save_checkpoint(tmp_path / "ck.pt", modules={"net": net}, optimizers={"opt": optimizer},
                           progress={"stage": "stage1", "step": 3}, config=CONFIG, extra={"history": [{"a": 1.0}]})
    checkpoint = load_checkpoint(path)
    assert checkpoint["progress"] == {"stage": "stage1", "step": 3}
    assert checkpoint["extra"]["history"] == [{"a": 1.0}]
    other, other_opt = _net_and_optimizer(1)
    restore(checkpoint, modules={"net": other}, optimizers={"opt": other_opt}, rng=False)
    for (name, a), (_, b) in zip(net.state_dict().items(), other.state_dict().items()):
        assert torch.equal(a, b), name
    # Continuing both gives bitwise identical weights: the Adam moments were restored too.
    _train(net, optimizer, 2, seed=5)
    _train(other, other_opt, 2, seed=5)
    for a, b in zip(net.parameters(), other.parameters()):
        assert torch.equal(a, b)


class NotAllowed:
    """An arbitrary class: unpickling it would need weights_only=False."""


def test_loading_is_weights_only(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "talkclip-checkpoint-v1", "payload": NotAllowed()}, path)
    assert isinstance(torch.load(path, weights_only=False)["payload"], NotAllowed)  # a full unpickler would run it
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_checkpoint(path)


def test_foreign_or_missing_files(tmp_path):
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="something-else"):
        load_checkpoint(tmp_path / "other.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="garbage.pt"):
        load_checkpoint(tmp_path / "garbage.pt")
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")


def test_rng_states_round_trip(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    net, _ = _net_and_optimizer(0)
    torch.manual_seed(3)
    path = save_checkpoint(tmp_path / "ck.pt", modules={"net": net}, progress={}, config=CONFIG)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    restore_rng_state(load_checkpoint(path)["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
    state = capture_rng_state()
    assert isinstance(state["torch_cpu"], torch.Tensor) and isinstance(state["numpy"]["keys"], torch.Tensor)


def test_mismatched_config_lists_every_key(tmp_path):
    net, _ = _net_and_optimizer(0)
    path = save_checkpoint(tmp_path / "ck.pt", modules={"net": net}, progress={}, config=CONFIG)
    checkpoint = load_checkpoint(path)
    current = {"model": {"d_model": 64, "n_layers": 2}, "train": {"lr": 1e-3, "log_every": 99, "stage2_steps": 9}}
    with pytest.raises(CheckpointMismatchError) as info:
        check_config(path, checkpoint, current, ignore={"train": RESUMABLE_TRAIN_KEYS})
    assert sorted(info.value.mismatches) == ["model.d_model: checkpoint 32, current 64",
                                             "model.n_layers: checkpoint 1, current 2"]
    assert "model.d_model" in str(info.value) and "model.n_layers" in str(info.value)
    # Only resumable keys differ: accepted.
    check_config(path, checkpoint, {**current, "model": CONFIG["model"]}, ignore={"train": RESUMABLE_TRAIN_KEYS})
    # Without the allowance, the step count and log interval are reported too.
    with pytest.raises(CheckpointMismatchError, match="train.log_every"):
        check_config(path, checkpoint, {**current, "model": CONFIG["model"]})


def test_restore_names_a_missing_module(tmp_path):
    net, _ = _net_and_optimizer(0)
    path = save_checkpoint(tmp_path / "ck.pt", modules={"net": net}, progress={}, config=CONFIG)
    with pytest.raises(CheckpointError, match="d_tem"):
        restore(load_checkpoint(path), modules={"d_tem": net})
