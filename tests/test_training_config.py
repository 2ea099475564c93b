"""TrainConfig / SyncPretrainConfig: paper defaults and strict validation naming the key."""
import pytest

from talkclip.config.loader import ConfigError, build, to_dict
from talkclip.config.train import SyncPretrainConfig, TrainConfig


def test_defaults_are_the_papers():
    cfg = TrainConfig()
    assert cfg.clip_frames == 64 and cfg.mu == 0.1
    assert (cfg.lambda_rec, cfg.lambda_cos, cfg.lambda_sync, cfg.lambda_tem) == (88.0, 1.0, 1.0, 1.0)
    assert (cfg.p_start, cfg.p_final) == (0.0, 0.5)
    assert cfg.descriptions == "full" and cfg.video_guided
    assert SyncPretrainConfig().clip_frames == 64


def test_round_trip_through_loader():
    cfg = TrainConfig(batch_size=4, p_schedule="cosine", descriptions="simanno", video_guided=False)
    assert build(TrainConfig, to_dict(cfg), "train") == cfg
    sync = SyncPretrainConfig(steps=10, min_shift=2, max_shift=4)
    assert build(SyncPretrainConfig, to_dict(sync), "sync") == sync


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"batch_size": 0}, "train.batch_size"),
        ({"lr": 0.0}, "train.lr"),
        ({"disc_lr": float("nan")}, "train.disc_lr"),
        ({"stage2_lr": -1e-4}, "train.stage2_lr"),
        ({"text_noise": -0.01}, "train.text_noise"),
        ({"text_noise": float("inf")}, "train.text_noise"),
        ({"adam_beta2": 1.0}, "train.adam_beta2"),
        ({"clip_frames": 1}, "train.clip_frames"),
        ({"stage1_steps": -1}, "train.stage1_steps"),
        ({"stage2_steps": 0}, "train.stage2_steps"),
        ({"p_final": 1.5}, "train.p_final"),
        ({"p_step_levels": 1}, "train.p_step_levels"),
        ({"lambda_rec": -1.0}, "train.lambda_rec"),
        ({"mu": 2.0}, "train.mu"),
        ({"checkpoint_every": 0}, "train.checkpoint_every"),
        ({"num_workers": -1}, "train.num_workers"),
        ({"threads": -1}, "train.threads"),
        ({"eval_every": 75, "log_every": 50}, "train.eval_every"),
        ({"workers": -1}, "train.workers"),
        ({"workers": 2, "batch_size": 5}, "train.batch_size"),
        ({"use_gpu": True}, "train.use_gpu"),  # with train.workers 1: no Ray to ask for GPUs
        ({"address": "10.0.0.1:6379"}, "train.address"),
        ({"workers": 2, "device": "cuda"}, "train.use_gpu"),
        ({"workers": 2, "use_gpu": True, "device": "cpu"}, "train.device"),
    ],
)
def test_invalid_train_values_name_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        TrainConfig(**overrides)


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"batch_size": 1}, "sync.batch_size"),
        ({"steps": 0}, "sync.steps"),
        ({"min_shift": 0}, "sync.min_shift"),
        ({"min_shift": 5, "max_shift": 3}, "sync.max_shift"),
        ({"other_clip_prob": -0.1}, "sync.other_clip_prob"),
    ],
)
def test_invalid_sync_values_name_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        SyncPretrainConfig(**overrides)


def test_loader_rejects_unknown_keys_and_bad_literals():
    with pytest.raises(ConfigError, match="train.batchsize"):
        build(TrainConfig, {"batchsize": 3}, "train")
    full = to_dict(TrainConfig())
    with pytest.raises(ConfigError, match="train.descriptions"):
        build(TrainConfig, {**full, "descriptions": "no_text"}, "train")
    with pytest.raises(ConfigError, match="train.ssim_form"):
        build(TrainConfig, {**full, "ssim_form": "pixel"}, "train")
    with pytest.raises(ConfigError, match="train.p_schedule"):
        build(TrainConfig, {**full, "p_schedule": "exp"}, "train")
    with pytest.raises(ConfigError, match="train.lr"):
        build(TrainConfig, {**full, "lr": "fast"}, "train")
