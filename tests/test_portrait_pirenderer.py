"""PIRenderer: StyleTalk's released architecture, checked against data derived once from its public code
(tests/pirenderer_reference.py): every key and shape, and the outputs for deterministic weights."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from pirenderer_reference import KEYS_FILE, REFERENCE_FILE, deterministic_inputs, deterministic_state_dict

from talkclip.portrait.pirenderer import (
    COEFF_NC,
    WINDOW,
    FaceGenerator,
    PIRendererCheckpointError,
    PIRendererRenderer,
    driving_windows,
    load_generator,
)


@pytest.fixture(scope="module")
def reference_shapes() -> list[tuple[str, list[int]]]:
    return [(key, shape) for key, shape in json.loads(KEYS_FILE.read_text())["state_dict"]]


def test_state_dict_keys_and_shapes_equal_styletalk(reference_shapes):
    ours = [(key, list(value.shape)) for key, value in FaceGenerator().state_dict().items()]
    assert len(ours) == len(reference_shapes) == 304
    assert dict(ours) == dict(reference_shapes)


def test_outputs_equal_the_public_code_for_the_same_weights(reference_shapes):
    generator = FaceGenerator().eval()
    generator.load_state_dict(deterministic_state_dict(reference_shapes))
    image, window = deterministic_inputs()
    with torch.no_grad():
        out = generator(image, window)
    reference = np.load(REFERENCE_FILE)
    for key in ("flow_field", "warp_image", "fake_image"):  # stored as float16
        np.testing.assert_allclose(out[key].numpy(), reference[key].astype(np.float32), atol=3e-3, rtol=0)


@pytest.mark.slow
def test_forward_pass_256_with_random_weights():
    torch.manual_seed(0)
    generator = FaceGenerator().eval()
    image = torch.rand(1, 3, 256, 256) * 2 - 1
    window = torch.randn(1, COEFF_NC, WINDOW)  # 27 frames of [64 expression, 3 angles, 3 translation, 3 crop]
    with torch.no_grad():
        out = generator(image, window)
    assert out["fake_image"].shape == (1, 3, 256, 256) and out["warp_image"].shape == (1, 3, 256, 256)
    assert out["flow_field"].shape == (1, 2, 64, 64)
    assert torch.isfinite(out["fake_image"]).all() and out["fake_image"].abs().max() <= 1.0


def test_windows_clamp_at_the_ends():
    sequence = np.arange(5 * COEFF_NC, dtype=np.float32).reshape(5, COEFF_NC)
    windows = driving_windows(sequence, 0, 5)
    assert windows.shape == (5, COEFF_NC, WINDOW)
    assert torch.equal(windows[0, :, 0], torch.from_numpy(sequence[0]))  # before the start: frame 0
    assert torch.equal(windows[4, :, -1], torch.from_numpy(sequence[4]))  # after the end: the last frame
    assert torch.equal(windows[2, :, 13], torch.from_numpy(sequence[2]))  # the centre is the frame itself


def test_checkpoint_loading_and_rendering(tmp_path, reference_shapes):
    weights = deterministic_state_dict(reference_shapes)
    # StyleTalk's file: net_G_ema (what its demo loads) beside other entries, saved from DataParallel.
    torch.save({"net_G_ema": {f"module.{k}": v for k, v in weights.items()}, "net_G": {}, "current_epoch": 3},
               tmp_path / "renderer_checkpoint.pt")
    generator = load_generator(tmp_path / "renderer_checkpoint.pt")
    assert torch.equal(generator.state_dict()["mapping_net.first.0.weight"], weights["mapping_net.first.0.weight"])
    frames = list(PIRendererRenderer(np.full((64, 64, 3), 128, np.uint8), generator, batch_size=2).frames(
        np.zeros((3, 64), np.float32), np.zeros((3, 9), np.float32)))
    assert len(frames) == 3 and all(f.shape == (64, 64, 3) and f.dtype == np.uint8 for f in frames)

    wrong = dict(weights)
    wrong["mapping_net.first.0.weight"] = torch.zeros(256, 70, 7)
    torch.save({"net_G_ema": wrong}, tmp_path / "other.pt")
    with pytest.raises(PIRendererCheckpointError, match="other shapes .*mapping_net.first.0.weight"):
        load_generator(tmp_path / "other.pt")
    torch.save({"net_G_ema": {k: v for k, v in weights.items() if not k.startswith("editing_net")}},
               tmp_path / "partial.pt")
    with pytest.raises(PIRendererCheckpointError, match="missing keys"):
        load_generator(tmp_path / "partial.pt")
    with pytest.raises(FileNotFoundError, match="renderer_checkpoint.pt"):
        load_generator(tmp_path / "absent.pt")
