"""SyncNet: reference architecture (syncnet-python package), weights by path, MFCC oracle, offset search."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from talkclip.metrics.syncnet import (
    SyncInputError,
    SyncNet,
    SyncNetWeightsError,
    evaluate_sync,
    load_syncnet,
    mfcc,
    offset_distances,
    sync_from_distances,
    window_count,
)

torch.set_num_threads(1)


def _reference_module(filename: str) -> ModuleType:
    """A file of the syncnet-python package, loaded alone (its __init__ pulls in scenedetect, ffmpeg, ...)."""
    spec = importlib.util.find_spec("syncnet_python")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("reference package syncnet-python==0.2.3 is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / filename
    module_spec = importlib.util.spec_from_file_location(f"_reference_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except ImportError as error:  # SyncNetInstance needs cv2 and python_speech_features
        pytest.skip(f"cannot import reference {filename}: {error}")
    return module


def test_architecture_keys_and_shapes_equal_reference():
    reference = _reference_module("SyncNetModel.py").S(num_layers_in_fc_layers=1024)
    ours = SyncNet()
    ref_state, our_state = reference.state_dict(), ours.state_dict()
    assert list(our_state) == list(ref_state)  # same names in the same order
    assert {k: tuple(v.shape) for k, v in our_state.items()} == {k: tuple(v.shape) for k, v in ref_state.items()}
    assert {"netcnnaud", "netfcaud", "netcnnlip", "netfclip"} == {name for name, _ in ours.named_children()}


def test_reference_weights_load_by_path_and_give_the_same_embeddings(tmp_path):
    torch.manual_seed(0)
    reference = _reference_module("SyncNetModel.py").S().eval()
    for module in reference.modules():  # non-trivial BatchNorm statistics, as trained weights have
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    weights = tmp_path / "syncnet_v2.model"
    torch.save(reference.state_dict(), weights)  # the official file is a plain state dict
    ours = load_syncnet(weights)
    audio = torch.randn(2, 1, 13, 20)
    video = torch.rand(2, 3, 5, 224, 224) * 255
    with torch.no_grad():
        assert torch.allclose(ours.forward_aud(audio), reference.forward_aud(audio), atol=1e-5)
        assert torch.allclose(ours.forward_lip(video), reference.forward_lip(video), atol=1e-4)
    wrapped = tmp_path / "wrapped.pt"
    torch.save({"state_dict": {f"__S__.{k}": v for k, v in reference.state_dict().items()}}, wrapped)
    assert set(load_syncnet(wrapped).state_dict()) == set(reference.state_dict())


def test_bad_weight_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_syncnet(tmp_path / "missing.model")
    partial = tmp_path / "partial.model"
    state = SyncNet().state_dict()
    state.pop("netfclip.3.bias")
    torch.save(state, partial)
    with pytest.raises(SyncNetWeightsError, match="netfclip.3.bias"):
        load_syncnet(partial)


def test_mfcc_matches_python_speech_features():
    psf = pytest.importorskip("python_speech_features", reason="MFCC oracle python_speech_features not installed")
    rng = np.random.default_rng(0)
    for n_samples in (300, 400, 401, 16000, 40123):
        signal = np.round(rng.standard_normal(n_samples) * 3000)  # int16-scale speech-like noise
        expected = psf.mfcc(signal, 16000)
        assert mfcc(signal).shape == expected.shape
        np.testing.assert_allclose(mfcc(signal), expected, rtol=1e-9, atol=1e-9)
    silence = np.zeros(1000)
    np.testing.assert_allclose(mfcc(silence), psf.mfcc(silence, 16000), rtol=1e-9, atol=1e-9)


def test_offset_and_confidence_arithmetic_on_constructed_table():
    # 3 windows x 31 shifts; mean distance per shift is 10 + |k - 12| except shift index 12 -> 2.
    shifts = np.arange(31)
    table = np.tile(10.0 + np.abs(shifts - 12), (3, 1))
    table[:, 12] = [1.0, 2.0, 3.0]
    table[0, 0] += 3.0  # changes one mean by 1, not the median or the minimum
    result = sync_from_distances(table)
    expected_means = table.mean(axis=0)
    np.testing.assert_allclose(result.mean_distances, expected_means)
    assert result.offset == 15 - 12 == 3
    assert result.min_distance == pytest.approx(2.0)
    assert result.confidence == pytest.approx(np.median(expected_means) - 2.0)  # median of 31 = 16th value
    assert np.median(expected_means) == pytest.approx(18.0)
    with pytest.raises(SyncInputError):
        sync_from_distances(np.zeros((3, 30)))


def test_distance_table_matches_reference_calc_pdist_and_finds_a_shift():
    reference = _reference_module("SyncNetInstance.py")
    torch.manual_seed(1)
    video_embeddings = torch.randn(40, 16)
    # audio embedding j equals video embedding j - 4: audio lags the video by 4 frames.
    audio_embeddings = torch.roll(video_embeddings, 4, dims=0) + 0.01 * torch.randn(40, 16)
    ours = offset_distances(video_embeddings, audio_embeddings, vshift=15)
    expected = torch.stack(reference.calc_pdist(video_embeddings, audio_embeddings, vshift=15))
    assert torch.allclose(ours, expected, atol=1e-6)
    result = sync_from_distances(ours)
    assert result.offset == -4  # best audio for video i is i + 4 -> index 19 -> 15 - 19
    assert result.confidence > 1.0
    assert sync_from_distances(offset_distances(audio_embeddings, video_embeddings)).offset == 4


def test_evaluate_sync_end_to_end_with_untrained_model():
    torch.manual_seed(0)
    model = SyncNet(embedding_dim=32).eval()
    frames = np.random.default_rng(0).integers(0, 256, (9, 64, 64, 3), dtype=np.uint8)
    audio = np.random.default_rng(1).standard_normal(9 * 640).astype(np.float32) * 0.1
    assert window_count(len(frames), len(audio)) == 4
    result = evaluate_sync(model, frames, audio, batch_size=3)
    assert result.mean_distances.shape == (31,)
    assert -15 <= result.offset <= 15
    assert result.confidence >= 0.0
    assert result.min_distance == pytest.approx(result.mean_distances.min())
    with pytest.raises(SyncInputError, match="25 fps"):
        evaluate_sync(model, frames, audio, fps=30)
    with pytest.raises(SyncInputError, match="too short"):
        evaluate_sync(model, frames[:5], audio)


@pytest.mark.filterwarnings("ignore::UserWarning")  # the reference's medfilt on a short clip
def test_evaluate_sync_equals_reference_evaluate(tmp_path):
    """Whole pipeline against syncnet_python's SyncNetInstance.evaluate on the same frames and wav."""
    reference = _reference_module("SyncNetInstance.py")
    import cv2
    from scipy.io import wavfile

    torch.manual_seed(3)
    net = _reference_module("SyncNetModel.py").S().eval()
    rng = np.random.default_rng(2)
    frames_bgr = []
    for index in range(11):  # 224x224 frames: no resize on either side
        frame = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
        cv2.imwrite(str(tmp_path / f"{index:06d}.jpg"), frame)
        frames_bgr.append(cv2.imread(str(tmp_path / f"{index:06d}.jpg")))  # what the reference will read
    audio_int16 = (rng.standard_normal(11 * 640 + 100) * 2000).astype(np.int16)
    wavfile.write(tmp_path / "audio.wav", 16000, audio_int16)
    options = type("Options", (), {"tmp_dir": str(tmp_path), "batch_size": 4, "vshift": 15})()
    ref_offset, ref_conf, ref_min = reference.SyncNetInstance(net, device="cpu").evaluate(options)

    weights = tmp_path / "weights.model"
    torch.save(net.state_dict(), weights)
    frames_rgb = np.stack(frames_bgr)[..., ::-1]
    ours = evaluate_sync(load_syncnet(weights), frames_rgb, audio_int16.astype(np.float32) / 32768.0, batch_size=4)
    assert ours.offset == ref_offset
    assert ours.confidence == pytest.approx(ref_conf, abs=1e-4)
    assert ours.min_distance == pytest.approx(ref_min, rel=1e-5)


def test_lip_embedder_equals_reference_windows():
    """The sequence/BN-folded lip stream gives the reference's per-window embeddings (random BN stats)."""
    from talkclip.metrics.syncnet import embed_video_windows, prepare_frames

    torch.manual_seed(0)
    model = SyncNet(embedding_dim=16, width=0.125).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
    frames = np.random.default_rng(0).integers(0, 256, (13, 96, 96, 3), dtype=np.uint8)
    video = prepare_frames(frames)  # the reference path: BGR, (3, T, 224, 224)
    with torch.no_grad():
        reference = model.forward_lip(torch.stack([video[:, i : i + 5] for i in range(9)]))
    ours = embed_video_windows(model, frames, 9, batch_size=4)  # chunks of 4 windows
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-4)


def test_bad_weight_file_names_file_and_expected(tmp_path):
    junk = tmp_path / "model.bin"
    junk.write_bytes(b"definitely not weights")
    with pytest.raises(SyncNetWeightsError, match=r"model\.bin: not SyncNet weights.*syncnet_v2\.model.*syncnet\.pt"):
        load_syncnet(junk)
