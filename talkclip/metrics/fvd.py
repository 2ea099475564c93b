"""FVD's I3D network (Carreira & Zisserman 2017, Inception-v1 inflated to 3-D) and its clip features.

FVD (Unterthiner et al. 2018) = `talkclip.metrics.frechet.frechet_distance` between I3D features of
the generated and the reference clips. Architecture and parameter names follow the PyTorch port
pytorch-i3d (``InceptionI3d``; weights ``rgb_imagenet.pt``, Kinetics-400): `Unit3D` = Conv3d without
bias (``conv3d``) + BatchNorm3d(eps 1e-3) (``bn``) + ReLU with TensorFlow "SAME" padding computed from
the input size; `InceptionModule` branches ``b0``, ``b1a``/``b1b``, ``b2a``/``b2b``, ``b3a`` (max pool)
/``b3b``; the 400-way ``logits`` Unit3D (with bias, no BN) after a (2, 7, 7) average pool.

Protocol: each video is cut into consecutive, non-overlapping ``CLIP_FRAMES`` = 16-frame clips of the
25 fps evaluation crop (a shorter tail is dropped), resized to 224x224, RGB scaled to [-1, 1]; a
clip's feature is its 400 logits averaged over the remaining time steps. Fréchet distances need many
clips (the covariance is 400 x 400): with few videos the number is dominated by estimation noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from talkclip.metrics.weights import apply_state_dict, load_state_dict_file

CLIP_FRAMES = 16
I3D_INPUT = 224
EXPECTED = "I3D weights in pytorch-i3d's layout (rgb_imagenet.pt, 400 Kinetics classes)"


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    total = max(kernel - stride, 0) if size % stride == 0 else max(kernel - size % stride, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> torch.Tensor:
    pads = [_same_padding(s, k, st) for s, k, st in zip(x.shape[2:], kernel, stride)]
    return F.pad(x, (*pads[2], *pads[1], *pads[0]))


class Unit3D(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel=(1, 1, 1), stride=(1, 1, 1),
                 batch_norm: bool = True, activation: bool = True, bias: bool = False):
        super().__init__()
        self.kernel, self.stride, self.activation = tuple(kernel), tuple(stride), activation
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel, self.stride, padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(out_channels, eps=0.001, momentum=0.01) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(_pad_same(x, self.kernel, self.stride))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.activation else x


class MaxPoolSame(nn.Module):
    def __init__(self, kernel, stride):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(_pad_same(x, self.kernel, self.stride), self.kernel, self.stride)


class InceptionModule(nn.Module):
    def __init__(self, in_channels: int, widths: tuple[int, int, int, int, int, int]):
        super().__init__()
        self.b0 = Unit3D(in_channels, widths[0])
        self.b1a, self.b1b = Unit3D(in_channels, widths[1]), Unit3D(widths[1], widths[2], (3, 3, 3))
        self.b2a, self.b2b = Unit3D(in_channels, widths[3]), Unit3D(widths[3], widths[4], (3, 3, 3))
        self.b3a, self.b3b = MaxPoolSame((3, 3, 3), (1, 1, 1)), Unit3D(in_channels, widths[5])
        self.out_channels = widths[0] + widths[2] + widths[4] + widths[5]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1)


# (name, in_channels, branch widths) of the Inception blocks, in order; max pools between them below.
_MIXED = (("Mixed_3b", 192, (64, 96, 128, 16, 32, 32)), ("Mixed_3c", 256, (128, 128, 192, 32, 96, 64)),
          ("Mixed_4b", 480, (192, 96, 208, 16, 48, 64)), ("Mixed_4c", 512, (160, 112, 224, 24, 64, 64)),
          ("Mixed_4d", 512, (128, 128, 256, 24, 64, 64)), ("Mixed_4e", 512, (112, 144, 288, 32, 64, 64)),
          ("Mixed_4f", 528, (256, 160, 320, 32, 128, 128)), ("Mixed_5b", 832, (256, 160, 320, 32, 128, 128)),
          ("Mixed_5c", 832, (384, 192, 384, 48, 128, 128)))
_POOL_BEFORE = {"Mixed_3b": ((1, 3, 3), (1, 2, 2)), "Mixed_4b": ((3, 3, 3), (2, 2, 2)),
                "Mixed_5b": ((2, 2, 2), (2, 2, 2))}


class I3D(nn.Module):
    def __init__(self, num_classes: int = 400):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPoolSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.pools = nn.ModuleDict({name: MaxPoolSame(*spec) for name, spec in _POOL_BEFORE.items()})
        for name, in_channels, widths in _MIXED:
            self.add_module(name, InceptionModule(in_channels, widths))
        self.logits = Unit3D(1024, num_classes, batch_norm=False, activation=False, bias=True)

    @torch.no_grad()
    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """(N, 3, T, 224, 224) RGB in [-1, 1] -> (N, num_classes) logits averaged over time."""
        x = self.MaxPool3d_2a_3x3(self.Conv3d_1a_7x7(clips))
        x = self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x))
        for name, _, _ in _MIXED:
            if name in self.pools:
                x = self.pools[name](x)
            x = getattr(self, name)(x)
        x = F.avg_pool3d(x, kernel_size=(min(2, x.shape[2]), 7, 7), stride=1)
        return self.logits(x).mean(dim=(2, 3, 4))

    def clip_features(self, frames: np.ndarray, batch_size: int = 2) -> np.ndarray:
        """(T, H, W, 3) uint8 -> (floor(T / 16), 400) float32 features of consecutive 16-frame clips."""
        n_clips = len(frames) // CLIP_FRAMES
        if n_clips == 0:
            return np.zeros((0, self.logits.conv3d.out_channels), np.float32)
        out = []
        for start in range(0, n_clips, batch_size):
            stop = min(n_clips, start + batch_size)
            video = torch.from_numpy(np.ascontiguousarray(frames[start * CLIP_FRAMES : stop * CLIP_FRAMES]))
            video = video.permute(0, 3, 1, 2).float() / 127.5 - 1.0
            video = F.interpolate(video, size=(I3D_INPUT, I3D_INPUT), mode="bilinear", align_corners=False)
            clips = video.reshape(stop - start, CLIP_FRAMES, 3, I3D_INPUT, I3D_INPUT).permute(0, 2, 1, 3, 4)
            out.append(self(clips))
        return torch.cat(out).numpy().astype(np.float32)


def load_i3d(path: str | Path) -> I3D:
    state = load_state_dict_file(path, EXPECTED)
    classes = state["logits.conv3d.weight"].shape[0] if "logits.conv3d.weight" in state else 400
    return apply_state_dict(I3D(num_classes=int(classes)), state, path, EXPECTED)
