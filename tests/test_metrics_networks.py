"""LPIPS, FID, FVD, Emotion-FAN and ArcFace architectures: published keys/shapes, weights by path, outputs.

No published weights exist offline, so every network is tested with random weights of its own
architecture saved to a file and loaded back through the real loader; the expected state-dict keys
and shapes are written down here (or in tests/data) from the public definitions of the published
models, independently of the implementation under test.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from talkclip.metrics.emotion import EmotionFAN, intended_emotion, load_emotion_classifier
from talkclip.metrics.fid import FIDInception, load_fid_inception
from talkclip.metrics.frechet import FrechetError, frechet_distance
from talkclip.metrics.fvd import CLIP_FRAMES, I3D, load_i3d
from talkclip.metrics.identity import IResNet, align_arcface, identity_similarity, load_arcface, sample_frames
from talkclip.metrics.lpips import LPIPS, load_lpips
from talkclip.metrics.weights import WeightsError, architecture_keys

torch.set_num_threads(1)
DATA = Path(__file__).parent / "data"

# lpips v0.1 weights/alex.pth and vgg.pth: the five linear heads, nothing else.
LPIPS_HEADS = {"alex": {f"lin{k}.model.1.weight": [1, c, 1, 1] for k, c in enumerate((64, 192, 384, 256, 256))},
               "vgg": {f"lin{k}.model.1.weight": [1, c, 1, 1] for k, c in enumerate((64, 128, 256, 512, 512))}}
# torchvision alexnet().features parameters (alexnet-owt-7be5be79.pth), conv layers at 0, 3, 6, 8, 10.
ALEXNET_FEATURES = {"features.0": [64, 3, 11, 11], "features.3": [192, 64, 5, 5], "features.6": [384, 192, 3, 3],
                    "features.8": [256, 384, 3, 3], "features.10": [256, 256, 3, 3]}


def _randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model


def _frames(n: int, size: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_frechet_distance_oracle():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((400, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    b = a * 2.0 + np.array([1.0, 0.0, -1.0])
    # Hand-computed: sigma_b = 4 sigma_a, so sqrt(sigma_a sigma_b) = 2 sigma_a and the trace term is tr(sigma_a).
    sigma = np.cov(a, rowvar=False)
    expected = np.sum((b.mean(0) - a.mean(0)) ** 2) + np.trace(sigma) * (1 + 4 - 4)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(FrechetError, match="feature sizes"):
        frechet_distance(a, a[:, :2])
    with pytest.raises(FrechetError, match="N >= 2"):
        frechet_distance(a[:1], a)


def test_lpips_keys_weights_by_path_and_outputs(tmp_path):
    for net in ("alex", "vgg"):
        assert LPIPS(net).head_keys() == LPIPS_HEADS[net]
    model = _randomise(LPIPS("alex"))
    assert {f"features.{k.rsplit('.', 1)[0]}": v for k, v in architecture_keys(model.features).items()
            if k.endswith("weight")} == ALEXNET_FEATURES
    heads = tmp_path / "alex.pth"
    torch.save({k: v.abs() for k, v in model.state_dict().items() if k.startswith("lin")}, heads)
    backbone = tmp_path / "alexnet-owt.pth"
    tv = torchvision.models.alexnet()
    tv.features.load_state_dict(model.features.state_dict())
    torch.save(tv.state_dict(), backbone)  # the whole torchvision file, classifier included
    loaded = load_lpips(heads, backbone)
    video = _frames(3)
    assert loaded.video_distance(video, video) == pytest.approx(0.0, abs=1e-7)
    other = loaded.video_distance(video, _frames(3, seed=1))
    assert np.isfinite(other) and other > 0
    with pytest.raises(WeightsError, match="backbone"):
        load_lpips(heads, None)
    with pytest.raises(WeightsError, match="no lin0/lin1 heads"):
        load_lpips(backbone, backbone)  # heads and backbone swapped
    with pytest.raises(WeightsError, match="does not fit"):
        load_lpips(heads, heads)


def test_fid_inception_keys_and_fid_of_a_set_with_itself(tmp_path):
    published = json.loads((DATA / "fid_inception_keys.json").read_text())["keys"]
    model = _randomise(FIDInception())
    assert model.state_dict_keys() == published
    weights = tmp_path / "pt_inception.pth"
    torch.save(model.net.state_dict(), weights)
    loaded = load_fid_inception(weights)
    frames = _frames(4, size=48)
    features = loaded.features(frames)
    assert features.shape == (4, 2048) and np.isfinite(features).all()
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-3)
    assert frechet_distance(features, loaded.features(_frames(4, size=48, seed=5))) > 0
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="junk.pth: not a PyTorch state dict"):
        load_fid_inception(tmp_path / "junk.pth")


def _i3d_published_keys() -> dict[str, list[int]]:
    """pytorch-i3d InceptionI3d's state dict, from its layer table (Unit3D = conv3d without bias + bn)."""
    keys: dict[str, list[int]] = {}

    def unit(name: str, cin: int, cout: int, kernel: tuple[int, int, int]) -> None:
        keys[f"{name}.conv3d.weight"] = [cout, cin, *kernel]
        for part in ("weight", "bias", "running_mean", "running_var"):
            keys[f"{name}.bn.{part}"] = [cout]

    unit("Conv3d_1a_7x7", 3, 64, (7, 7, 7))
    unit("Conv3d_2b_1x1", 64, 64, (1, 1, 1))
    unit("Conv3d_2c_3x3", 64, 192, (3, 3, 3))
    table = [("Mixed_3b", 192, [64, 96, 128, 16, 32, 32]), ("Mixed_3c", 256, [128, 128, 192, 32, 96, 64]),
             ("Mixed_4b", 480, [192, 96, 208, 16, 48, 64]), ("Mixed_4c", 512, [160, 112, 224, 24, 64, 64]),
             ("Mixed_4d", 512, [128, 128, 256, 24, 64, 64]), ("Mixed_4e", 512, [112, 144, 288, 32, 64, 64]),
             ("Mixed_4f", 528, [256, 160, 320, 32, 128, 128]), ("Mixed_5b", 832, [256, 160, 320, 32, 128, 128]),
             ("Mixed_5c", 832, [384, 192, 384, 48, 128, 128])]
    for name, cin, w in table:
        unit(f"{name}.b0", cin, w[0], (1, 1, 1))
        unit(f"{name}.b1a", cin, w[1], (1, 1, 1))
        unit(f"{name}.b1b", w[1], w[2], (3, 3, 3))
        unit(f"{name}.b2a", cin, w[3], (1, 1, 1))
        unit(f"{name}.b2b", w[3], w[4], (3, 3, 3))
        unit(f"{name}.b3b", cin, w[5], (1, 1, 1))
    keys["logits.conv3d.weight"] = [400, 1024, 1, 1, 1]
    keys["logits.conv3d.bias"] = [400]
    return keys


def test_i3d_keys_and_clip_features(tmp_path):
    model = _randomise(I3D())
    assert architecture_keys(model) == _i3d_published_keys()
    weights = tmp_path / "rgb_imagenet.pt"
    torch.save({k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}, weights)
    loaded = load_i3d(weights)
    features = loaded.clip_features(_frames(CLIP_FRAMES + 3, size=32))  # one whole clip, the tail dropped
    assert features.shape == (1, 400) and np.isfinite(features).all()
    assert loaded.clip_features(_frames(CLIP_FRAMES - 1, size=32)).shape == (0, 400)


def test_emotion_fan_keys_prediction_and_labels(tmp_path):
    resnet = {k: v for k, v in architecture_keys(torchvision.models.resnet18()).items() if not k.startswith("fc.")}
    expected = {**resnet, "alpha.0.weight": [1, 512], "alpha.0.bias": [1], "beta.0.weight": [1, 1024],
                "beta.0.bias": [1], "pred_fc1.weight": [7, 512], "pred_fc1.bias": [7], "pred_fc2.weight": [7, 1024],
                "pred_fc2.bias": [7]}
    model = _randomise(EmotionFAN())
    assert architecture_keys(model) == expected
    weights = tmp_path / "emotion_fan.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, weights)  # as trained
    classifier = load_emotion_classifier(weights)
    assert classifier.predict(_frames(5)) in classifier.labels
    with pytest.raises(ValueError, match="7 classes but 2 labels"):
        load_emotion_classifier(weights, ("happy", "sad"))
    assert intended_emotion("M003_front_happy_level3_001") == "happy"
    assert intended_emotion("clip7", {"clip7": "sad"}) == "sad" and intended_emotion("clip7") is None


def test_arcface_iresnet_and_identity_similarity(tmp_path):
    model = _randomise(IResNet((2, 2, 2, 2)))
    keys = architecture_keys(model)
    assert keys["fc.weight"] == [512, 25088] and keys["features.weight"] == [512] and keys["prelu.weight"] == [64]
    assert keys["layer1.0.conv1.weight"] == [64, 64, 3, 3] and keys["layer4.1.bn3.weight"] == [512]
    weights = tmp_path / "backbone.pth"
    torch.save(model.state_dict(), weights)
    encoder = load_arcface(weights)
    assert encoder.name == "arcface_iresnet18"
    rng = np.random.default_rng(0)
    landmarks = np.tile(rng.uniform(40, 90, (1, 68, 2)), (3, 1, 1))
    embeddings = encoder.embed(_frames(3, size=128), landmarks)
    assert embeddings.shape == (3, 512) and np.allclose(np.linalg.norm(embeddings, axis=1), 1.0)
    assert align_arcface(_frames(1, size=128)[0], landmarks[0]).shape == (112, 112, 3)
    # CSIM hand-computed: identical directions give 1, orthogonal ones 0.
    assert identity_similarity(np.eye(3)[:1], np.eye(3)[:1] * 5) == pytest.approx(1.0)
    assert identity_similarity(np.eye(3)[:1], np.eye(3)[1:2]) == pytest.approx(0.0)
    assert sample_frames(100, 4).tolist() == [12, 37, 62, 87] and sample_frames(3, 10).tolist() == [0, 1, 2]


def test_frechet_trace_term_equals_scipy_sqrtm():
    """The eigen-decomposition route against pytorch-fid's scipy.linalg.sqrtm route (full-rank sets)."""
    from scipy import linalg

    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((60, 8)), rng.standard_normal((50, 8)) * 1.5 + 0.3
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    reference = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance(a, b) == pytest.approx(reference, rel=1e-9)
