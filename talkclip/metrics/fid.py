"""FID's Inception network (pytorch-fid's port of the TensorFlow 2015-12-05 graph) and its features.

FID = `talkclip.metrics.frechet.frechet_distance` between the 2048-d pool features of all generated
frames of a method and all reference frames (evaluation crops). The network is torchvision's
InceptionV3 layer for layer with the four changes the TensorFlow graph has (and pytorch-fid copies):
average pools in the A, C and first E blocks do not count padding, and the last E block pools by max;
1008 output classes. Input: RGB in [0, 1] resized to 299x299 (bilinear), scaled to [-1, 1]; output:
the average-pooled 2048-d activation before the classifier.

Weights: pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (the user brings it; keys/shapes are
those of ``inception_v3(num_classes=1008, aux_logits=False)``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import inception as tv

from talkclip.metrics.weights import apply_state_dict, load_state_dict_file

FID_INPUT = 299
EXPECTED = "pytorch-fid's Inception weights (pt_inception-2015-12-05-6726825d.pth)"


def _avg_no_pad(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(tv.InceptionA):
    def _forward(self, x):
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return [self.branch1x1(x), branch5x5, branch3x3dbl, self.branch_pool(_avg_no_pad(x))]


class FIDInceptionC(tv.InceptionC):
    def _forward(self, x):
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        dbl = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
            dbl = layer(dbl)
        return [self.branch1x1(x), branch7x7, dbl, self.branch_pool(_avg_no_pad(x))]


class FIDInceptionE(tv.InceptionE):
    def __init__(self, in_channels: int, pool: str):
        super().__init__(in_channels)
        self.pool = pool  # "avg" (first E block, no padding counted) or "max" (second)

    def _forward(self, x):
        branch3x3 = self.branch3x3_1(x)
        branch3x3 = torch.cat([self.branch3x3_2a(branch3x3), self.branch3x3_2b(branch3x3)], 1)
        dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        dbl = torch.cat([self.branch3x3dbl_3a(dbl), self.branch3x3dbl_3b(dbl)], 1)
        pooled = _avg_no_pad(x) if self.pool == "avg" else F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        return [self.branch1x1(x), branch3x3, dbl, self.branch_pool(pooled)]


class FIDInception(nn.Module):
    def __init__(self):
        super().__init__()
        net = tv.Inception3(num_classes=1008, aux_logits=False, init_weights=False)
        net.Mixed_5b, net.Mixed_5c, net.Mixed_5d = FIDInceptionA(192, 32), FIDInceptionA(256, 64), FIDInceptionA(288, 64)
        for name in ("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):
            setattr(net, name, FIDInceptionC(768, getattr(net, name).branch7x7_1.conv.out_channels))
        net.Mixed_7b, net.Mixed_7c = FIDInceptionE(1280, "avg"), FIDInceptionE(2048, "max")
        self.net = net

    def state_dict_keys(self) -> dict[str, list[int]]:
        return {k: list(v.shape) for k, v in self.net.state_dict().items() if not k.endswith("num_batches_tracked")}

    @torch.no_grad()
    def pool_features(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) RGB in [0, 1] -> (N, 2048)."""
        n = self.net
        x = F.interpolate(images, size=(FID_INPUT, FID_INPUT), mode="bilinear", align_corners=False) * 2 - 1
        x = n.Conv2d_2b_3x3(n.Conv2d_2a_3x3(n.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = n.Conv2d_4a_3x3(n.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
                     "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(n, name)(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)

    def features(self, frames: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """(T, H, W, 3) uint8 frames -> (T, 2048) float32 pool features."""
        out = [self.pool_features(torch.from_numpy(np.ascontiguousarray(frames[i : i + batch_size]))
                                  .permute(0, 3, 1, 2).float() / 255.0) for i in range(0, len(frames), batch_size)]
        return torch.cat(out).numpy().astype(np.float32)


def load_fid_inception(path: str | Path) -> FIDInception:
    model = FIDInception()
    apply_state_dict(model.net, load_state_dict_file(path, EXPECTED), path, EXPECTED)
    return model.eval()
