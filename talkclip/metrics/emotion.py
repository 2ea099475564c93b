"""Emotion accuracy of generated videos with a video emotion classifier the user brings.

The classifier is Emotion-FAN (Meng et al., "Frame attention networks for facial expression
recognition in videos", ICIP 2019), the network EAT's evaluation uses; its architecture is written
here from the paper and the authors' public definition (``ResNet_AT``): a ResNet-18 trunk (``conv1``,
``bn1``, ``layer1..4``) gives a 512-d feature f_i per frame; self-attention weights
``alpha_i = sigmoid(alpha(f_i))``; the video feature ``v = sum alpha_i f_i / sum alpha_i``;
relation-attention weights ``beta_i = sigmoid(beta([f_i; v]))``; the prediction is
``pred_fc2(sum alpha_i beta_i [f_i; v] / sum alpha_i beta_i)`` (``pred_fc1(v)`` for weights trained
with self-attention only, ``attention="self"``). Frames: the evaluation crop resized to 224x224, RGB
in [0, 1] (check the preprocessing your weights were trained with).

Accuracy: the predicted class of each generated video against the intended emotion -- the
``intended_emotions`` mapping (video name -> emotion) if given, otherwise the emotion in a MEAD-style
name (``M003_front_happy_level3_001``). Class names: ``labels`` (default Emotion-FAN's AFEW order).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

from talkclip.metrics.weights import apply_state_dict, load_state_dict_file

AFEW_LABELS = ("angry", "disgusted", "fear", "happy", "neutral", "sad", "surprised")
MEAD_EMOTIONS = ("angry", "contempt", "disgusted", "fear", "happy", "neutral", "sad", "surprised")
INPUT_SIZE = 224
EXPECTED = "an Emotion-FAN (ResNet_AT, ResNet-18) state dict"
_MEAD_NAME = re.compile(r"_(" + "|".join(MEAD_EMOTIONS) + r")(?:_level\d+)?(?:_|$)")


class EmotionFAN(nn.Module):
    def __init__(self, n_classes: int = 7, attention: str = "relation"):
        super().__init__()
        if attention not in ("self", "relation"):
            raise ValueError(f"attention must be 'self' or 'relation', got {attention!r}")
        self.attention = attention
        trunk = ResNet(BasicBlock, [2, 2, 2, 2])
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            self.add_module(name, getattr(trunk, name))
        self.alpha = nn.Sequential(nn.Linear(512, 1), nn.Sigmoid())
        self.beta = nn.Sequential(nn.Linear(1024, 1), nn.Sigmoid())
        self.pred_fc1 = nn.Linear(512, n_classes)
        self.pred_fc2 = nn.Linear(1024, n_classes)

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(frames))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return F.adaptive_avg_pool2d(x, 1).flatten(1)

    @torch.no_grad()
    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """(T, 3, 224, 224) frames of one video -> (n_classes,) scores."""
        features = self.frame_features(frames)
        alphas = self.alpha(features)
        video = (features * alphas).sum(0) / alphas.sum()
        if self.attention == "self":
            return self.pred_fc1(video)
        joint = torch.cat([features, video.expand_as(features)], dim=1)
        weights = alphas * self.beta(joint)
        return self.pred_fc2((joint * weights).sum(0) / weights.sum())


class EmotionClassifier:
    def __init__(self, model: EmotionFAN, labels: Sequence[str]):
        self.model, self.labels = model.eval(), tuple(labels)

    def predict(self, frames: np.ndarray, max_frames: int = 64) -> str:
        """The emotion of a (T, H, W, 3) uint8 video (at most ``max_frames`` evenly spaced frames)."""
        pick = np.linspace(0, len(frames) - 1, min(len(frames), max_frames)).round().astype(int)
        x = torch.from_numpy(np.ascontiguousarray(frames[pick])).permute(0, 3, 1, 2).float() / 255.0
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        return self.labels[int(self.model(x).argmax())]


def load_emotion_classifier(path: str | Path, labels: Sequence[str] | None = None) -> EmotionClassifier:
    state = load_state_dict_file(path, EXPECTED)
    n_classes = state["pred_fc2.weight"].shape[0] if "pred_fc2.weight" in state else len(AFEW_LABELS)
    labels = tuple(labels) if labels else AFEW_LABELS
    if len(labels) != n_classes:
        raise ValueError(f"{path}: the classifier has {n_classes} classes but {len(labels)} labels were given "
                         f"({', '.join(labels)})")
    return EmotionClassifier(apply_state_dict(EmotionFAN(int(n_classes)), state, path, EXPECTED), labels)


def intended_emotion(name: str, intended: Mapping[str, str] | None = None) -> str | None:
    """The emotion a video was generated for: from ``intended`` or a MEAD-style name; None if unknown."""
    if intended is not None and name in intended:
        return intended[name]
    match = _MEAD_NAME.search(name)
    return match.group(1) if match else None
