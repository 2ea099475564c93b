"""generate_coefficients: any length in bounded chunks, text or style clip, checkpoint loading."""

import numpy as np
import pytest
import torch
from test_training_toy import HashBackbone, build_toy_dataset, tiny_model_config

from talkclip.config.train import TrainConfig
from talkclip.inference import generate_coefficients, load_model
from talkclip.model.talkclip_model import TalkCLIP
from talkclip.training.checkpoint import CheckpointError, save_checkpoint
from talkclip.training.trainer import train


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return TalkCLIP(tiny_model_config(), text_dim=16).eval()


def _phonemes(n, seed=0):
    return np.random.default_rng(seed).integers(0, 41, size=n)


def test_chunked_equals_unchunked_for_long_input(model):
    phonemes = _phonemes(1000)
    backbone = HashBackbone()
    whole = generate_coefficients(model, phonemes, text="a happy man", backbone=backbone, chunk_frames=1000)
    chunked = generate_coefficients(model, phonemes, text="a happy man", backbone=backbone, chunk_frames=37)
    assert whole.shape == (1000, 64) and whole.dtype == np.float32 and np.isfinite(whole).all()
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-5)


def test_chunks_bound_the_decoder_input(model, monkeypatch):
    seen = []
    original = model.decode

    def recording_decode(windows, style):
        seen.append(tuple(windows.shape))
        return original(windows, style)

    monkeypatch.setattr(model, "decode", recording_decode)
    out = generate_coefficients(model, _phonemes(300), style_clip=np.zeros((40, 64), np.float32), chunk_frames=64)
    assert out.shape == (300, 64)
    assert seen == [(1, 64, 11)] * 4 + [(1, 44, 11)]


def test_single_frame_and_frame_independence(model):
    phonemes = _phonemes(50)
    style_clip = np.random.default_rng(1).normal(0, 0.3, (300, 64)).astype(np.float32)  # > style_max_frames: cropped
    full = generate_coefficients(model, phonemes, style_clip=style_clip)
    one = generate_coefficients(model, phonemes[:1], style_clip=style_clip)
    assert one.shape == (1, 64)
    # Frame 0 of a 1-frame input sees only SIL beyond itself, unlike frame 0 of the long input.
    assert not np.allclose(one[0], full[0])
    # A frame depends only on its 11-phoneme window: changing a phoneme far away leaves it unchanged.
    changed = phonemes.copy()
    changed[40] = (changed[40] + 1) % 41
    other = generate_coefficients(model, changed, style_clip=style_clip)
    np.testing.assert_allclose(other[:35], full[:35], atol=1e-6)
    assert not np.allclose(other[40], full[40])


def test_text_changes_the_output(model):
    backbone = HashBackbone()
    phonemes = _phonemes(20)
    a = generate_coefficients(model, phonemes, text="a happy man", backbone=backbone)
    b = generate_coefficients(model, phonemes, text="an angry woman shouting", backbone=backbone)
    assert not np.allclose(a, b)


def test_input_errors(model):
    backbone = HashBackbone()
    with pytest.raises(ValueError, match="empty"):
        generate_coefficients(model, _phonemes(5), text="   ", backbone=backbone)
    with pytest.raises(ValueError, match="exactly one"):
        generate_coefficients(model, _phonemes(5), backbone=backbone)
    with pytest.raises(ValueError, match="exactly one"):
        generate_coefficients(model, _phonemes(5), text="x", style_clip=np.zeros((4, 64)), backbone=backbone)
    with pytest.raises(ValueError, match="0..40"):
        generate_coefficients(model, np.array([0, 41]), text="x", backbone=backbone)
    with pytest.raises(ValueError, match="1-D integer"):
        generate_coefficients(model, np.zeros((2, 3), int), text="x", backbone=backbone)
    with pytest.raises(ValueError, match="style_clip"):
        generate_coefficients(model, _phonemes(5), style_clip=np.zeros((4, 63)))
    with pytest.raises(ValueError, match="16-d"):
        generate_coefficients(model, _phonemes(5), text="x", backbone=HashBackbone(dim=8))
    assert generate_coefficients(model, np.zeros(0, int), text="x", backbone=backbone).shape == (0, 64)


def test_load_model_from_a_training_checkpoint(tmp_path):
    processed, annotated = build_toy_dataset(tmp_path)
    cfg = TrainConfig(device="cpu", batch_size=2, clip_frames=32, stage1_steps=1, stage2_steps=1, lambda_sync=0.0)
    result = train(tiny_model_config(), cfg, processed, annotated, tmp_path / "run", None, backbone=HashBackbone())
    model, model_cfg = load_model(result.checkpoint)
    assert model_cfg == tiny_model_config() and not model.training and model.text_dim == 16
    phonemes = _phonemes(30)
    out = generate_coefficients(model, phonemes, text="a calm man", backbone=HashBackbone())
    assert out.shape == (30, 64)
    with pytest.raises(CheckpointError, match="no TalkCLIP network"):
        save_checkpoint(tmp_path / "other.pt", modules={"x": torch.nn.Linear(1, 1)}, progress={}, config={})
        load_model(tmp_path / "other.pt")
