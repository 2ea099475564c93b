"""LPIPS (Zhang et al. 2018, "The unreasonable effectiveness of deep features as a perceptual metric").

The reference architecture of the ``lpips`` package (v0.1), written here from its description:
images in [-1, 1] are shifted and scaled per channel (``SHIFT``, ``SCALE``); five feature maps of an
ImageNet backbone are taken (AlexNet: after each of its 5 ReLU stages, 64/192/384/256/256 channels;
VGG16: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3, 64/128/256/512/512 channels); each map is unit-
normalised over channels, the squared difference of the two images' maps is weighted per channel by a
learned non-negative 1x1 convolution (the "linear heads", ``lin{k}.model.1.weight`` of shape
(1, C, 1, 1)) and averaged over space; LPIPS is the sum over the five layers. Per video: the mean over
frames (generated frame i against reference frame i, both the evaluation crop).

Weights (the user brings both; nothing downloads): the linear heads ``alex.pth`` / ``vgg.pth`` of the
``lpips`` package (``lpips/weights/v0.1/``) and torchvision's ImageNet backbone state dict
(``alexnet-owt-7be5be79.pth`` / ``vgg16-397923af.pth``). The backbone is torchvision's own
``alexnet().features`` / ``vgg16().features``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import nn

from talkclip.metrics.weights import WeightsError, apply_state_dict, load_state_dict_file

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
# Index of torchvision's `features` after which each of the five LPIPS layers is taken (its ReLU).
TAPS = {"alex": (1, 4, 7, 9, 11), "vgg": (3, 8, 15, 22, 29)}
CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}
HEADS_EXPECTED = "the lpips package's v0.1 linear heads (alex.pth or vgg.pth)"


class LinearHead(nn.Module):
    """lpips's NetLinLayer: dropout (inactive in eval) then a 1x1 convolution without bias."""

    def __init__(self, channels: int):
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, 1, bias=False))


class LPIPS(nn.Module):
    def __init__(self, net: str = "alex"):
        super().__init__()
        if net not in TAPS:
            raise ValueError(f"LPIPS backbone must be one of {sorted(TAPS)}, got {net!r}")
        self.net = net
        backbone = torchvision.models.alexnet() if net == "alex" else torchvision.models.vgg16()
        self.features = backbone.features[: TAPS[net][-1] + 1]
        for k, channels in enumerate(CHANNELS[net]):
            self.add_module(f"lin{k}", LinearHead(channels))
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)

    def head_keys(self) -> dict[str, list[int]]:
        return {f"lin{k}.model.1.weight": [1, c, 1, 1] for k, c in enumerate(CHANNELS[self.net])}

    def layer_features(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = (images - self.shift) / self.scale
        taps, out = TAPS[self.net], []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in taps:
                out.append(x)
        return out

    @torch.no_grad()
    def forward(self, generated: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [-1, 1] each -> (N,) LPIPS distances."""
        total = torch.zeros(generated.shape[0])
        for k, (a, b) in enumerate(zip(self.layer_features(generated), self.layer_features(reference))):
            a = a / (a.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            b = b / (b.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            total += getattr(self, f"lin{k}").model((a - b).pow(2)).mean(dim=(1, 2, 3))
        return total

    def video_distance(self, generated: np.ndarray, reference: np.ndarray, batch_size: int = 16) -> float:
        """Mean LPIPS over frame pairs of two (T, H, W, 3) uint8 videos of equal length."""
        values = []
        for start in range(0, len(generated), batch_size):
            a, b = (torch.from_numpy(np.ascontiguousarray(v[start : start + batch_size])).permute(0, 3, 1, 2).float()
                    / 127.5 - 1.0 for v in (generated, reference))
            values.append(self(a, b))
        return float(torch.cat(values).mean())


def load_lpips(heads: str | Path, backbone: str | Path | None) -> LPIPS:
    """LPIPS with the linear heads from ``heads`` and the torchvision backbone from ``backbone``."""
    if backbone is None:
        raise WeightsError("--lpips needs --lpips-backbone: torchvision's ImageNet AlexNet "
                           "(alexnet-owt-7be5be79.pth) or VGG16 (vgg16-397923af.pth) state dict")
    head_state = load_state_dict_file(heads, HEADS_EXPECTED)
    first = head_state.get("lin0.model.1.weight")
    second = head_state.get("lin1.model.1.weight")
    if first is None or second is None:
        raise WeightsError(f"{heads}: no lin0/lin1 heads; expected {HEADS_EXPECTED}")
    net = "alex" if second.shape[1] == 192 else "vgg"
    model = LPIPS(net)
    backbone_state = {k.removeprefix("features."): v for k, v in
                      load_state_dict_file(backbone, f"torchvision's {net} ImageNet state dict").items()
                      if k.startswith("features.")}
    backbone_state = {k: v for k, v in backbone_state.items() if int(k.split(".")[0]) <= TAPS[net][-1]}
    state = {**{f"features.{k}": v for k, v in backbone_state.items()}, **head_state}
    return apply_state_dict(model, state, f"{heads} + {backbone}", f"LPIPS-{net} (heads + torchvision features)")
