"""PIRenderer (Ren et al. 2021) as StyleTalk released it: BFM expression + pose + crop -> face image.

For users who have StyleTalk's ``renderer_checkpoint.pt`` (not downloadable here): the network
below has exactly the architecture of StyleTalk's ``generators/face_model.py`` with
``configs/renderer_conf.yaml`` (MIT; written here from its description, no code copied), so that
its ``net_G_ema`` state dict loads by key. The parameter names (``warpping_net`` included) are the
checkpoint's. ``tests/data/pirenderer_state_dict.json`` lists every key and shape, derived once
from the public code (``tests/pirenderer_reference.py``).

- ``MappingNet``: the driving window (B, 73, 27) -- 64 BFM expression coefficients, 3 angles,
  3 translations, 3 crop parameters (``transform_params[-3:]``) for the 27 frames around the
  target frame -- through a 1-D conv (k 7) and three residual dilated convs (k 3, dilation 3)
  to a 256-d descriptor (average-pooled).
- ``WarpingNet``: an hourglass whose every normalisation is AdaIN on the descriptor (5 levels down,
  3 up with skips) predicts a flow at 1/4 resolution; the source image is sampled along it.
- ``EditingNet``: an encoder-decoder over [source, warped] (3 levels, LayerNorm, AdaIN residual
  blocks) that paints the final image (tanh, -1..1).

Two details are reproduced as released because the weights were trained with them: the AdaIN
residual block of the editing decoder returns ``x + AdaIN(conv2(x))`` (its conv1/norm1 path is
computed by the original but does not reach the output, so it is skipped here), and the flow is
converted to a sampling grid normalised by (size - 1) while ``grid_sample`` uses
``align_corners=False`` (torch's default since 1.3).

:class:`PIRendererRenderer` loads a checkpoint (``weights_only=True``) and renders a sequence the
way StyleTalk's demo does (windows clamped at the ends, frames in batches).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

RENDERER_NAME = "pirenderer"
COEFF_NC = 73  # 64 expression + 3 angles + 3 translation + 3 crop
SEMANTIC_RADIUS = 13  # the window is 2 * 13 + 1 = 27 frames
WINDOW = 2 * SEMANTIC_RADIUS + 1
DESCRIPTOR_NC = 256
IMAGE_SIZE = 256  # what StyleTalk's renderer was trained on

_LEAK = 0.1


class LayerNorm2d(nn.Module):
    """Layer norm over (C, H, W) with a per-channel affine (weights stored as (C, 1, 1))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape[1:]
        return F.layer_norm(x, shape, self.weight.expand(shape), self.bias.expand(shape))


class AdaIN(nn.Module):
    """Instance norm, then scale (1 + gamma) and shift beta predicted from the descriptor."""

    def __init__(self, channels: int, descriptor_nc: int, hidden: int = 128) -> None:
        super().__init__()
        self.param_free_norm = nn.InstanceNorm2d(channels, affine=False)
        self.mlp_shared = nn.Sequential(nn.Linear(descriptor_nc, hidden), nn.ReLU())
        self.mlp_gamma = nn.Linear(hidden, channels)
        self.mlp_beta = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor, descriptor: torch.Tensor) -> torch.Tensor:
        shared = self.mlp_shared(descriptor.reshape(descriptor.shape[0], -1))
        gamma = self.mlp_gamma(shared)[:, :, None, None]
        beta = self.mlp_beta(shared)[:, :, None, None]
        return self.param_free_norm(x) * (1 + gamma) + beta


class MappingNet(nn.Module):
    def __init__(self, coeff_nc: int = COEFF_NC, descriptor_nc: int = DESCRIPTOR_NC, layer: int = 3) -> None:
        super().__init__()
        self.layer = layer
        self.first = nn.Sequential(nn.Conv1d(coeff_nc, descriptor_nc, kernel_size=7, padding=0, bias=True))
        for i in range(layer):
            setattr(self, f"encoder{i}", nn.Sequential(
                nn.LeakyReLU(_LEAK), nn.Conv1d(descriptor_nc, descriptor_nc, kernel_size=3, padding=0, dilation=3)))
        self.pooling = nn.AdaptiveAvgPool1d(1)

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        """(B, 73, 27) -> (B, 256, 1)."""
        out = self.first(window)
        for i in range(self.layer):
            out = getattr(self, f"encoder{i}")(out) + out[:, :, 3:-3]  # each dilated conv trims 3 per side
        return self.pooling(out)


class _AdaINDown(nn.Module):
    def __init__(self, in_nc: int, out_nc: int, descriptor_nc: int) -> None:
        super().__init__()
        self.conv_0 = nn.Conv2d(in_nc, out_nc, kernel_size=4, stride=2, padding=1)
        self.conv_1 = nn.Conv2d(out_nc, out_nc, kernel_size=3, stride=1, padding=1)
        self.norm_0 = AdaIN(in_nc, descriptor_nc)
        self.norm_1 = AdaIN(out_nc, descriptor_nc)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        x = self.conv_0(F.leaky_relu(self.norm_0(x, z), _LEAK))
        return self.conv_1(F.leaky_relu(self.norm_1(x, z), _LEAK))


class _AdaINUp(nn.Module):
    """Residual up-block with transposed convs (x2), AdaIN before each conv."""

    def __init__(self, in_nc: int, out_nc: int, descriptor_nc: int) -> None:
        super().__init__()
        hidden = out_nc
        up = {"kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1}
        self.conv_0 = nn.Conv2d(in_nc, hidden, kernel_size=3, stride=1, padding=1)
        self.conv_1 = nn.ConvTranspose2d(hidden, out_nc, **up)
        self.conv_s = nn.ConvTranspose2d(in_nc, out_nc, **up)
        self.norm_0 = AdaIN(in_nc, descriptor_nc)
        self.norm_1 = AdaIN(hidden, descriptor_nc)
        self.norm_s = AdaIN(in_nc, descriptor_nc)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        shortcut = self.conv_s(F.leaky_relu(self.norm_s(x, z), _LEAK))
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, z), _LEAK))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, z), _LEAK))
        return shortcut + dx


class _AdaINEncoder(nn.Module):
    def __init__(self, image_nc: int, descriptor_nc: int, base_nc: int, max_nc: int, layers: int) -> None:
        super().__init__()
        self.layers = layers
        self.input_layer = nn.Conv2d(image_nc, base_nc, kernel_size=7, stride=1, padding=3)
        for i in range(layers):
            setattr(self, f"encoder{i}", _AdaINDown(min(base_nc * 2**i, max_nc), min(base_nc * 2 ** (i + 1), max_nc),
                                                    descriptor_nc))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> list[torch.Tensor]:
        features = [self.input_layer(x)]
        for i in range(self.layers):
            features.append(getattr(self, f"encoder{i}")(features[-1], z))
        return features


class _AdaINDecoder(nn.Module):
    """Up-blocks for the deepest ``decoder_layers`` levels; each output is concatenated with the skip."""

    def __init__(self, descriptor_nc: int, base_nc: int, max_nc: int, encoder_layers: int, decoder_layers: int) -> None:
        super().__init__()
        self.levels = list(range(encoder_layers - decoder_layers, encoder_layers))[::-1]
        for i in self.levels:
            in_nc = min(base_nc * 2 ** (i + 1), max_nc)
            if i != encoder_layers - 1:
                in_nc *= 2  # the previous level's output concatenated with its skip
            setattr(self, f"decoder{i}", _AdaINUp(in_nc, min(base_nc * 2**i, max_nc), descriptor_nc))
        self.output_nc = 2 * min(base_nc * 2 ** self.levels[-1], max_nc)

    def forward(self, features: list[torch.Tensor], z: torch.Tensor) -> torch.Tensor:
        skips = list(features)
        out = skips.pop()
        for i in self.levels:
            out = torch.cat([getattr(self, f"decoder{i}")(out, z), skips.pop()], dim=1)
        return out


class _Hourglass(nn.Module):
    def __init__(self, image_nc: int, descriptor_nc: int, base_nc: int, max_nc: int, encoder_layers: int,
                 decoder_layers: int) -> None:
        super().__init__()
        self.encoder = _AdaINEncoder(image_nc, descriptor_nc, base_nc, max_nc, encoder_layers)
        self.decoder = _AdaINDecoder(descriptor_nc, base_nc, max_nc, encoder_layers, decoder_layers)
        self.output_nc = self.decoder.output_nc

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x, z), z)


def flow_to_grid(flow: torch.Tensor) -> torch.Tensor:
    """(B, 2, h, w) pixel flow -> (B, h, w, 2) sampling grid in [-1, 1] (normalised by size - 1)."""
    _, _, h, w = flow.shape
    xs = torch.linspace(-1.0, 1.0, w, dtype=flow.dtype, device=flow.device)
    ys = torch.linspace(-1.0, 1.0, h, dtype=flow.dtype, device=flow.device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    base = torch.stack([grid_x, grid_y], dim=-1)
    offset = torch.stack([2.0 * flow[:, 0] / (w - 1), 2.0 * flow[:, 1] / (h - 1)], dim=-1)
    return base + offset


def warp_with_grid(image: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    if grid.shape[1:3] != image.shape[2:]:
        grid = F.interpolate(grid.permute(0, 3, 1, 2), size=image.shape[2:], mode="bilinear",
                             align_corners=False).permute(0, 2, 3, 1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class WarpingNet(nn.Module):
    def __init__(self, image_nc: int = 3, descriptor_nc: int = DESCRIPTOR_NC, base_nc: int = 32, max_nc: int = 256,
                 encoder_layer: int = 5, decoder_layer: int = 3) -> None:
        super().__init__()
        self.hourglass = _Hourglass(image_nc, descriptor_nc, base_nc, max_nc, encoder_layer, decoder_layer)
        channels = self.hourglass.output_nc
        self.flow_out = nn.Sequential(LayerNorm2d(channels), nn.LeakyReLU(_LEAK),
                                      nn.Conv2d(channels, 2, kernel_size=7, stride=1, padding=3))

    def forward(self, image: torch.Tensor, descriptor: torch.Tensor) -> dict[str, torch.Tensor]:
        flow = self.flow_out(self.hourglass(image, descriptor))
        return {"flow_field": flow, "warp_image": warp_with_grid(image, flow_to_grid(flow))}


def _conv_norm_act(in_nc: int, out_nc: int, kernel: int) -> list[nn.Module]:
    return [nn.Conv2d(in_nc, out_nc, kernel_size=kernel, stride=1, padding=kernel // 2), LayerNorm2d(out_nc),
            nn.LeakyReLU(_LEAK)]


class _ConvBlock(nn.Module):
    """``model``: conv + LayerNorm2d + LeakyReLU (+ extra layers); the checkpoint's key layout."""

    def __init__(self, layers: list[nn.Module], upsample: bool = False) -> None:
        super().__init__()
        self.model = nn.Sequential(*layers)
        self.upsample = upsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2)  # nearest, as released
        return self.model(x)


class _AdaINResBlock(nn.Module):
    def __init__(self, channels: int, descriptor_nc: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, stride=1, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, stride=1, padding=1)
        self.norm1 = AdaIN(channels, descriptor_nc)
        self.norm2 = AdaIN(channels, descriptor_nc)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        # As released: the conv1/norm1 branch does not reach the output (see the module docstring).
        return self.norm2(self.conv2(x), z) + x


class _AdaINResBlocks(nn.Module):
    def __init__(self, n_blocks: int, channels: int, descriptor_nc: int) -> None:
        super().__init__()
        self.n_blocks = n_blocks
        for i in range(n_blocks):
            setattr(self, f"res{i}", _AdaINResBlock(channels, descriptor_nc))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        for i in range(self.n_blocks):
            x = getattr(self, f"res{i}")(x, z)
        return x


class _FineEncoder(nn.Module):
    def __init__(self, image_nc: int, base_nc: int, max_nc: int, layers: int) -> None:
        super().__init__()
        self.layers = layers
        self.first = _ConvBlock(_conv_norm_act(image_nc, base_nc, 7))
        for i in range(layers):
            in_nc, out_nc = min(base_nc * 2**i, max_nc), min(base_nc * 2 ** (i + 1), max_nc)
            setattr(self, f"down{i}", _ConvBlock(_conv_norm_act(in_nc, out_nc, 3) + [nn.AvgPool2d(kernel_size=2)]))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = [self.first(x)]
        for i in range(self.layers):
            features.append(getattr(self, f"down{i}")(features[-1]))
        return features


class _FineDecoder(nn.Module):
    def __init__(self, image_nc: int, descriptor_nc: int, base_nc: int, max_nc: int, layers: int,
                 n_res_blocks: int) -> None:
        super().__init__()
        self.layers = layers
        for i in range(layers)[::-1]:
            in_nc, out_nc = min(base_nc * 2 ** (i + 1), max_nc), min(base_nc * 2**i, max_nc)
            setattr(self, f"up{i}", _ConvBlock(_conv_norm_act(in_nc, out_nc, 3), upsample=True))
            setattr(self, f"res{i}", _AdaINResBlocks(n_res_blocks, in_nc, descriptor_nc))
            setattr(self, f"jump{i}", _ConvBlock(_conv_norm_act(out_nc, out_nc, 3)))
        self.final = _ConvBlock([nn.Conv2d(min(base_nc, max_nc), image_nc, kernel_size=7, stride=1, padding=3),
                                 nn.Tanh()])

    def forward(self, features: list[torch.Tensor], z: torch.Tensor) -> torch.Tensor:
        skips = list(features)
        out = skips.pop()
        for i in range(self.layers)[::-1]:
            out = getattr(self, f"up{i}")(getattr(self, f"res{i}")(out, z))
            out = getattr(self, f"jump{i}")(skips.pop()) + out
        return self.final(out)


class EditingNet(nn.Module):
    def __init__(self, image_nc: int = 3, descriptor_nc: int = DESCRIPTOR_NC, layer: int = 3, base_nc: int = 64,
                 max_nc: int = 256, num_res_blocks: int = 2) -> None:
        super().__init__()
        self.encoder = _FineEncoder(2 * image_nc, base_nc, max_nc, layer)
        self.decoder = _FineDecoder(image_nc, descriptor_nc, base_nc, max_nc, layer, num_res_blocks)

    def forward(self, image: torch.Tensor, warped: torch.Tensor, descriptor: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(torch.cat([image, warped], dim=1)), descriptor)


class FaceGenerator(nn.Module):
    """The whole renderer: (B, 3, H, W) image in [-1, 1] + (B, 73, 27) window -> images in [-1, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.mapping_net = MappingNet()
        self.warpping_net = WarpingNet()  # sic: the checkpoint's spelling
        self.editing_net = EditingNet()

    def forward(self, image: torch.Tensor, window: torch.Tensor) -> dict[str, torch.Tensor]:
        descriptor = self.mapping_net(window)
        out = self.warpping_net(image, descriptor)
        out["fake_image"] = self.editing_net(image, out["warp_image"], descriptor)
        return out


# ---------------------------------------------------------------------------------------------
# Loading a checkpoint and rendering sequences.
# ---------------------------------------------------------------------------------------------


class PIRendererCheckpointError(ValueError):
    """A file is not a PIRenderer checkpoint with this architecture."""


def generator_state_dict(checkpoint: Mapping, where: str) -> dict[str, torch.Tensor]:
    """The generator weights of a PIRenderer/StyleTalk checkpoint: ``net_G_ema`` (what StyleTalk loads),
    else ``net_G``, else the mapping itself if it holds the weights; a ``module.`` prefix is removed."""
    for key in ("net_G_ema", "net_G"):
        if key in checkpoint and isinstance(checkpoint[key], Mapping):
            state = checkpoint[key]
            break
    else:
        state = checkpoint
    tensors = {k.removeprefix("module."): v for k, v in state.items()
               if isinstance(v, torch.Tensor)}
    if not tensors:
        raise PIRendererCheckpointError(f"{where}: no generator weights (expected 'net_G_ema' or 'net_G'; "
                                        f"top-level keys: {sorted(map(str, checkpoint))[:10]})")
    return tensors


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> FaceGenerator:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"PIRenderer checkpoint {path} does not exist (StyleTalk's "
                                "checkpoints/renderer_checkpoint.pt; see README, 'Real photos')")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise PIRendererCheckpointError(f"{path}: cannot be loaded with torch.load(weights_only=True): {exc}") from exc
    if not isinstance(checkpoint, Mapping):
        raise PIRendererCheckpointError(f"{path}: expected a dict checkpoint, got {type(checkpoint).__name__}")
    state = generator_state_dict(checkpoint, str(path))
    generator = FaceGenerator()
    expected = generator.state_dict()
    missing = sorted(set(expected) - set(state))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape))
    if missing or wrong:
        detail = []
        if missing:
            detail.append(f"{len(missing)} missing keys (e.g. {missing[:3]})")
        if wrong:
            detail.append(f"{len(wrong)} keys with other shapes (e.g. {wrong[0]}: {tuple(state[wrong[0]].shape)} "
                          f"vs {tuple(expected[wrong[0]].shape)})")
        raise PIRendererCheckpointError(f"{path}: not StyleTalk's PIRenderer architecture: " + "; ".join(detail))
    # Extra keys (e.g. a discriminator saved alongside) are ignored, as StyleTalk's strict=False does.
    generator.load_state_dict({k: state[k] for k in expected})
    return generator.to(device).eval()


def driving_windows(coefficients: np.ndarray, start: int, stop: int) -> torch.Tensor:
    """(stop - start, 73, 27) windows of the (T, 73) sequence, indices clamped at the ends (as StyleTalk)."""
    n = len(coefficients)
    centres = np.arange(start, stop)[:, None]
    index = np.clip(centres + np.arange(-SEMANTIC_RADIUS, SEMANTIC_RADIUS + 1)[None], 0, n - 1)
    return torch.from_numpy(np.ascontiguousarray(coefficients[index].transpose(0, 2, 1), dtype=np.float32))


class PIRendererRenderer:
    """Renders BFM-space expressions with a loaded :class:`FaceGenerator` (StyleTalk's inference)."""

    name = RENDERER_NAME
    expression_space = "bfm"

    def __init__(self, image: np.ndarray, generator: FaceGenerator, batch_size: int = 4,
                 device: str | torch.device = "cpu") -> None:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"PIRendererRenderer: expected an (H, W, 3) uint8 image, got {image.dtype} {image.shape}")
        self.generator = generator
        self.device = torch.device(device)
        self.batch_size = batch_size
        source = torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255.0
        self.source = ((source - 0.5) / 0.5)[None].to(self.device)  # ToTensor + Normalize(0.5, 0.5)

    @torch.no_grad()
    def frames(self, expression: np.ndarray, pose9: np.ndarray) -> Iterator[np.ndarray]:
        """Yield (H, W, 3) uint8 frames for (T, 64) BFM expressions and (T, 9) [angles, translation, crop]."""
        expression, pose9 = np.asarray(expression, np.float32), np.asarray(pose9, np.float32)
        if expression.ndim != 2 or expression.shape[1] != 64 or pose9.shape != (len(expression), 9):
            raise ValueError(f"PIRendererRenderer: expected (T, 64) expression and (T, 9) pose, got {expression.shape} "
                             f"and {pose9.shape}")
        coefficients = np.concatenate([expression, pose9], axis=1)
        for start in range(0, len(coefficients), self.batch_size):
            stop = min(start + self.batch_size, len(coefficients))
            windows = driving_windows(coefficients, start, stop).to(self.device)
            out = self.generator(self.source.expand(len(windows), -1, -1, -1), windows)["fake_image"]
            images = ((out.clamp(-1, 1) + 1) / 2 * 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
            yield from images
