"""Training on the tiny dataset makes the losses fall (the full objective, both stages)."""
import pytest
from test_training_toy import HashBackbone, tiny_model_config, toy_training_data

from talkclip.config.train import TrainConfig
from talkclip.training.trainer import train

MODEL = tiny_model_config()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return toy_training_data(tmp_path_factory.mktemp("losses"), MODEL)


def test_losses_fall_on_the_tiny_dataset(data, tmp_path):
    cfg = TrainConfig(seed=3, device="cpu", batch_size=8, lr=1e-3, disc_lr=1e-3, clip_frames=32, stage1_steps=60,
                      stage2_steps=40, log_every=10, checkpoint_every=1000)
    processed, annotated, sync = data
    result = train(MODEL, cfg, processed, annotated, tmp_path, sync, backbone=HashBackbone())
    first, last = result.history[0], result.history[-1]
    assert last["loss_rec"] < first["loss_rec"] - 0.05, (first, last)
    assert last["l1"] < first["l1"]
    assert last["loss_sync"] < first["loss_sync"]
    stage2 = [e for e in result.history if e["stage"] == "stage2"]
    # L_cos starts in stage 2 and competes there with L_rec's pull on s_t: that it trains the adapter
    # towards s_v is tested on its own (test_training_adapter.py).
    assert all(0.0 <= e["loss_cos"] <= 2.0 for e in stage2)
    assert result.embedding_cache is not None and result.embedding_cache.is_file()
