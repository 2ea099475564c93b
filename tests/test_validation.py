"""Held-out validation: deterministic windows of the validation split (never the test split), descriptions of the right clip,
evaluation without side effects, and the trainer's on_eval hook not changing training."""
import math

import pytest
import torch
from test_training_toy import HashBackbone, tiny_model_config, toy_training_data

from talkclip.config.sweep import VALIDATION_METRIC_MODES
from talkclip.config.train import TrainConfig
from talkclip.model.talkclip_model import TalkCLIP
from talkclip.training.checkpoint import load_checkpoint
from talkclip.training.trainer import train
from talkclip.training.validation import ValidationSet

MODEL = tiny_model_config()
TRAIN = TrainConfig(seed=2, device="cpu", batch_size=4, lr=1e-3, disc_lr=1e-3, clip_frames=32, stage1_steps=3,
                    stage2_steps=4, checkpoint_every=4, log_every=2)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("validation")
    processed, annotated, sync = toy_training_data(root, MODEL)
    return processed, annotated, sync, root / "cache"


def _build(data, **kw):
    processed, annotated, _, cache = data
    return ValidationSet.build(processed, annotated, MODEL, TRAIN, HashBackbone(), cache, **kw)


def test_validation_set_is_deterministic_and_held_out(data):
    a, b = _build(data, n_windows=10, seed=5), _build(data, n_windows=10, seed=5)
    assert torch.equal(a.target, b.target) and torch.equal(a.window_text, b.window_text)
    assert not torch.equal(a.target, _build(data, n_windows=10, seed=6).target)
    # Only the validation speaker's clips (toy val split = W004), each one scored, with its own descriptions.
    assert a.clip_ids and all(c.startswith("W004_") for c in a.clip_ids)
    assert all(c.startswith("M003_") for c in _build(data, n_windows=4, split="test").clip_ids)
    assert set(a.window_clip.tolist()) == set(range(len(a.clip_ids)))
    assert torch.equal(a.text_clip[a.window_text], a.window_clip)
    assert a.target.shape == (10, TRAIN.clip_frames, 64)
    assert a.phoneme_windows.shape == (10, TRAIN.clip_frames, 2 * MODEL.window + 1)
    assert a.emotions == ["angry", "happy", "neutral"]


def test_evaluate_has_no_side_effects(data):
    validation = _build(data, n_windows=12)
    torch.manual_seed(0)
    model = TalkCLIP(MODEL, 16).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng_before = torch.get_rng_state()
    metrics = validation.evaluate(model, chunk=5)  # chunks of unequal size average like one pass
    assert set(metrics) == set(VALIDATION_METRIC_MODES)
    assert model.training and torch.equal(rng_before, torch.get_rng_state())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert metrics == pytest.approx(validation.evaluate(model, chunk=64), rel=1e-5)
    assert 0.0 <= metrics["val_emotion_acc"] <= 1.0 and metrics["val_rec"] > 0 and math.isfinite(metrics["val_l1"])


def test_on_eval_hook_runs_at_each_log_without_changing_training(data, tmp_path):
    processed, annotated, sync, cache = data
    validation = _build(data, n_windows=8)
    calls, logs = [], []

    def on_eval(stage, step, model):
        calls.append((stage, step, validation.evaluate(model)))

    with_eval = train(MODEL, TRAIN, processed, annotated, tmp_path / "a", sync, backbone=HashBackbone(),
                      cache_dir=cache, on_eval=on_eval, on_log=lambda s, step, m: logs.append((s, step)))
    without = train(MODEL, TRAIN, processed, annotated, tmp_path / "b", sync, backbone=HashBackbone(), cache_dir=cache)
    assert [(s, step) for s, step, _ in calls] == logs == [("stage1", 2), ("stage1", 3), ("stage2", 5), ("stage2", 7)]
    weights_a = load_checkpoint(with_eval.checkpoint)["modules"]["talkclip"]
    weights_b = load_checkpoint(without.checkpoint)["modules"]["talkclip"]
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)



def test_missing_split_is_reported(data):
    with pytest.raises(ValueError, match="no clips with split 'hdtf'"):
        _build(data, split="hdtf")
