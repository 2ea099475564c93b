"""SyncNet lip-sync scores (Sync_conf / LSE-C and LSE-D), following joonson/syncnet_python (MIT).

Chung & Zisserman, "Out of time: automated lip sync in the wild" (ACCV workshops 2016). The network
here has exactly the layers and parameter names of syncnet_python's ``SyncNetModel.S`` (``netcnnaud``,
``netfcaud``, ``netcnnlip``, ``netfclip``), so the official ``syncnet_v2.model`` state dict loads by
path with `load_syncnet`, as does a SyncNet trained on the embedded corpus.

Reference protocol (``SyncNetInstance.evaluate``), reproduced step by step:
- Video: 25 fps face crops, 224x224, BGR channel order, float 0..255 (no normalisation); input
  windows of 5 consecutive frames (N, 3, 5, 224, 224).
- Audio: 16 kHz mono at int16 scale; MFCC as python_speech_features' ``mfcc`` defaults (25 ms
  rectangular windows every 10 ms, 512-point FFT, 26 mel filters, 13 coefficients, pre-emphasis 0.97,
  lifter 22, c0 replaced by log frame energy): 100 MFCC frames/s, 4 per video frame; video window i is
  paired with MFCC frames 4i..4i+19 (N, 1, 13, 20).
- ``min_length = min(n_frames, floor(n_samples / 640))`` and windows i = 0..min_length-6 (the
  reference stops one window early; kept for comparable numbers).
- Distances: for each video window i and shift k in -vshift..+vshift, the Euclidean distance between
  video embedding i and audio embedding i + k (zero vectors outside the clip, as the reference pads);
  mean over i per shift; offset = vshift - argmin; confidence (Sync_conf, LSE-C) = median - min of the
  mean distances; LSE-D = the min mean distance. vshift = 15.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SAMPLE_RATE = 16000
VIDEO_FPS = 25
FRAME_SIZE = 224
WINDOW_FRAMES = 5
MFCC_PER_VIDEO_FRAME = 4  # 100 MFCC frames/s over 25 video frames/s
MFCC_WINDOW = 20  # = WINDOW_FRAMES * MFCC_PER_VIDEO_FRAME
SAMPLES_PER_VIDEO_FRAME = SAMPLE_RATE // VIDEO_FPS  # 640
DEFAULT_VSHIFT = 15


class SyncInputError(ValueError):
    """Audio or video given to SyncNet is unusable (wrong rate, shape, or too short)."""


EXPECTED_WEIGHTS = ("a SyncNet state dict: syncnet_python's syncnet_v2.model or this project's syncnet.pt "
                    "(talkclip syncnet-train)")


class SyncNetWeightsError(ValueError):
    """A weights file does not match the SyncNet architecture."""


class SyncNet(nn.Module):
    """syncnet_python's ``SyncNetModel.S``, layer for layer (same module names and shapes)."""

    def __init__(self, embedding_dim: int = 1024, width: float = 1.0):
        """``width`` scales every channel count (1.0 = the reference network, the only width the official
        weights have); ``width=0.25`` is the small network `talkclip.metrics.syncnet_train` trains on CPU.
        Layer names, kernels and input sizes do not change with the width."""
        super().__init__()
        if not 0 < width <= 1:
            raise ValueError(f"SyncNet width must be in (0, 1], got {width}")
        self.width = width

        def ch(n: int) -> int:
            return max(8, round(n * width))

        # Audio stream: MFCC "image" (1, 13, 20) -> 512-d
        self.netcnnaud = nn.Sequential(
            nn.Conv2d(1, ch(64), kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)),
            nn.BatchNorm2d(ch(64)),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=(1, 1), stride=(1, 1)),
            nn.Conv2d(ch(64), ch(192), kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)),
            nn.BatchNorm2d(ch(192)),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=(3, 3), stride=(1, 2)),
            nn.Conv2d(ch(192), ch(384), kernel_size=(3, 3), padding=(1, 1)),
            nn.BatchNorm2d(ch(384)),
            nn.ReLU(inplace=True),
            nn.Conv2d(ch(384), ch(256), kernel_size=(3, 3), padding=(1, 1)),
            nn.BatchNorm2d(ch(256)),
            nn.ReLU(inplace=True),
            nn.Conv2d(ch(256), ch(256), kernel_size=(3, 3), padding=(1, 1)),
            nn.BatchNorm2d(ch(256)),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=(3, 3), stride=(2, 2)),
            nn.Conv2d(ch(256), ch(512), kernel_size=(5, 4), padding=(0, 0)),
            nn.BatchNorm2d(ch(512)),
            nn.ReLU(),
        )
        self.netfcaud = nn.Sequential(
            nn.Linear(ch(512), ch(512)),
            nn.BatchNorm1d(ch(512)),
            nn.ReLU(),
            nn.Linear(ch(512), embedding_dim),
        )
        self.netfclip = nn.Sequential(
            nn.Linear(ch(512), ch(512)),
            nn.BatchNorm1d(ch(512)),
            nn.ReLU(),
            nn.Linear(ch(512), embedding_dim),
        )
        # Video stream: 5 BGR frames (3, 5, 224, 224) -> 512-d
        self.netcnnlip = nn.Sequential(
            nn.Conv3d(3, ch(96), kernel_size=(5, 7, 7), stride=(1, 2, 2), padding=0),
            nn.BatchNorm3d(ch(96)),
            nn.ReLU(inplace=True),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
            nn.Conv3d(ch(96), ch(256), kernel_size=(1, 5, 5), stride=(1, 2, 2), padding=(0, 1, 1)),
            nn.BatchNorm3d(ch(256)),
            nn.ReLU(inplace=True),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            nn.Conv3d(ch(256), ch(256), kernel_size=(1, 3, 3), padding=(0, 1, 1)),
            nn.BatchNorm3d(ch(256)),
            nn.ReLU(inplace=True),
            nn.Conv3d(ch(256), ch(256), kernel_size=(1, 3, 3), padding=(0, 1, 1)),
            nn.BatchNorm3d(ch(256)),
            nn.ReLU(inplace=True),
            nn.Conv3d(ch(256), ch(256), kernel_size=(1, 3, 3), padding=(0, 1, 1)),
            nn.BatchNorm3d(ch(256)),
            nn.ReLU(inplace=True),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
            nn.Conv3d(ch(256), ch(512), kernel_size=(1, 6, 6), padding=0),
            nn.BatchNorm3d(ch(512)),
            nn.ReLU(inplace=True),
        )

    def forward_aud(self, mfcc_windows: torch.Tensor) -> torch.Tensor:
        """(N, 1, 13, 20) MFCC windows -> (N, embedding_dim)."""
        features = self.netcnnaud(mfcc_windows)
        return self.netfcaud(features.view(features.size(0), -1))

    def forward_lip(self, frame_windows: torch.Tensor) -> torch.Tensor:
        """(N, 3, 5, 224, 224) BGR 0..255 frame windows -> (N, embedding_dim)."""
        features = self.netcnnlip(frame_windows)
        return self.netfclip(features.view(features.size(0), -1))

    def forward(self, frame_windows: torch.Tensor, mfcc_windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_lip(frame_windows), self.forward_aud(mfcc_windows)


def load_syncnet(path: str | Path, map_location: str | torch.device = "cpu") -> SyncNet:
    """A `SyncNet` in eval mode with weights from ``path`` (official ``syncnet_v2.model`` or our own).

    Accepts a plain state dict (the official file), a dict with a ``state_dict``/``model`` entry, and keys
    prefixed ``__S__.`` (syncnet_python's wrapper); every parameter and buffer must be present with the
    right shape.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SyncNet weights not found: {path}")
    try:
        loaded = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- not a torch file, a pickle of arbitrary objects, truncated, ...
        raise SyncNetWeightsError(
            f"{path}: not SyncNet weights ({type(exc).__name__}: {str(exc).splitlines()[0][:160]}); expected "
            f"{EXPECTED_WEIGHTS}"
        ) from None
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    elif isinstance(loaded, dict) and isinstance(loaded.get("model"), dict):
        loaded = loaded["model"]
    if not isinstance(loaded, dict):
        raise SyncNetWeightsError(f"{path}: holds a {type(loaded).__name__}; expected {EXPECTED_WEIGHTS}")
    state = {key.removeprefix("__S__."): value for key, value in loaded.items()}
    embedding_dim = state["netfcaud.3.weight"].shape[0] if "netfcaud.3.weight" in state else 1024
    # Our smaller trained networks scale every channel count; the first audio conv has 64 * width.
    width = state["netcnnaud.0.weight"].shape[0] / 64 if "netcnnaud.0.weight" in state else 1.0
    model = SyncNet(embedding_dim=embedding_dim, width=min(width, 1.0))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong_shape:
        raise SyncNetWeightsError(
            f"{path}: not a syncnet_python SyncNet state dict (missing {missing[:5]}, unexpected {unexpected[:5]}, "
            f"wrong shape {wrong_shape[:5]}); expected {EXPECTED_WEIGHTS}"
        )
    model.load_state_dict(state)
    return model.eval()


# ----------------------------------------------------------------------------------------------------
# MFCC, equivalent to python_speech_features.mfcc with its defaults (the reference's audio features)


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(n_filters: int = 26, n_fft: int = 512, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(n_filters, n_fft // 2 + 1) triangular filters on FFT bins, as python_speech_features."""
    mel_points = np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), n_filters + 2)
    bins = np.floor((n_fft + 1) * _mel_to_hz(mel_points) / sample_rate)
    fft_bin = np.arange(n_fft // 2 + 1, dtype=np.float64)[None, :]
    lower, centre, upper = bins[:-2, None], bins[1:-1, None], bins[2:, None]
    rising_span = np.where(centre > lower, centre - lower, 1.0)
    falling_span = np.where(upper > centre, upper - centre, 1.0)
    rising = np.where((fft_bin >= lower) & (fft_bin < centre), (fft_bin - lower) / rising_span, 0.0)
    falling = np.where((fft_bin >= centre) & (fft_bin < upper), (upper - fft_bin) / falling_span, 0.0)
    return rising + falling


def mfcc(
    signal: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    n_ceps: int = 13,
    n_filters: int = 26,
    n_fft: int = 512,
    preemphasis: float = 0.97,
    lifter: int = 22,
) -> np.ndarray:
    """(n_frames, n_ceps) MFCC of a 1-d signal; 25 ms rectangular windows every 10 ms."""
    signal = np.asarray(signal, dtype=np.float64)
    if signal.ndim != 1 or signal.size == 0:
        raise SyncInputError(f"mfcc expects a non-empty mono 1-d signal, got shape {signal.shape}")
    emphasised = np.concatenate([signal[:1], signal[1:] - preemphasis * signal[:-1]])
    frame_len = math.floor(0.025 * sample_rate + 0.5)
    frame_step = math.floor(0.010 * sample_rate + 0.5)
    n_frames = 1 if len(signal) <= frame_len else 1 + math.ceil((len(signal) - frame_len) / frame_step)
    padded = np.zeros((n_frames - 1) * frame_step + frame_len)
    padded[: len(emphasised)] = emphasised
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame_len)[::frame_step][:n_frames]
    power = np.square(np.abs(np.fft.rfft(frames, n_fft))) / n_fft
    tiny = np.finfo(np.float64).eps
    energy = power.sum(axis=1)
    energy = np.where(energy == 0, tiny, energy)
    filter_energies = power @ mel_filterbank(n_filters, n_fft, sample_rate).T
    filter_energies = np.where(filter_energies == 0, tiny, filter_energies)
    from scipy.fft import dct

    ceps = dct(np.log(filter_energies), type=2, axis=1, norm="ortho")[:, :n_ceps]
    if lifter > 0:
        ceps = ceps * (1.0 + (lifter / 2.0) * np.sin(np.pi * np.arange(n_ceps) / lifter))
    ceps[:, 0] = np.log(energy)  # c0 replaced by the log frame energy
    return ceps


def audio_to_int16_scale(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] (our loaders) -> the int16 scale the reference reads from wav files."""
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise SyncInputError(f"audio must be mono (n_samples,), got shape {audio.shape}")
    if np.issubdtype(audio.dtype, np.integer):
        return audio.astype(np.float64)
    return audio.astype(np.float64) * 32768.0


# ----------------------------------------------------------------------------------------------------
# Windows, embeddings and the offset search


def prepare_frames(frames_rgb: np.ndarray, size: int = FRAME_SIZE) -> torch.Tensor:
    """(T, H, W, 3) uint8 RGB face crops -> (3, T, size, size) float BGR 0..255, bilinear resize."""
    frames_rgb = np.asarray(frames_rgb)
    if frames_rgb.ndim != 4 or frames_rgb.shape[-1] != 3 or frames_rgb.dtype != np.uint8:
        raise SyncInputError(f"frames must be uint8 RGB (T, H, W, 3), got {frames_rgb.dtype} {frames_rgb.shape}")
    video = torch.from_numpy(np.ascontiguousarray(frames_rgb[..., ::-1])).permute(0, 3, 1, 2).float()
    if video.shape[-2:] != (size, size):
        video = F.interpolate(video, size=(size, size), mode="bilinear", align_corners=False)
    return video.permute(1, 0, 2, 3).contiguous()


def window_count(n_frames: int, n_samples: int) -> int:
    """Number of 5-frame windows the reference evaluates: min(frames, samples // 640) - 5."""
    return min(n_frames, n_samples // SAMPLES_PER_VIDEO_FRAME) - WINDOW_FRAMES


def _folded(conv: nn.Module, bn: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights and bias of ``conv`` followed by eval-mode ``bn`` as one convolution."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    weight = conv.weight * scale.reshape(-1, *([1] * (conv.weight.dim() - 1)))
    bias = (conv.bias - bn.running_mean) * scale + bn.bias
    return weight.detach(), bias.detach()


class LipEmbedder:
    """The lip stream of a `SyncNet` rearranged for inference over a whole clip (same numbers).

    The reference stacks every 5-frame window (N, 3, 5, 224, 224) and runs the 3-D network on each.
    Here the first convolution (temporal kernel 5) runs once over the frame sequence (1, 3, T, 224,
    224), which yields the same T - 4 window outputs without copying each frame into 5 windows; every
    later layer has a temporal kernel of 1, so it runs as a 2-D layer on the T - 4 outputs. BatchNorm
    (eval statistics) is folded into the convolutions, the RGB -> BGR swap into the first layer's
    weights, and tensors are channels-last, the layout oneDNN's fastest CPU kernels use. On 2 shared
    cores this took about 60% of the reference path's time; the embeddings agree with `SyncNet.forward_lip`
    to float32 rounding (tests compare both, and the whole score with syncnet_python's own code).
    """

    def __init__(self, model: SyncNet):
        layers = list(model.netcnnlip)
        pairs = [(layers[i], layers[i + 1]) for i in range(len(layers)) if isinstance(layers[i], nn.Conv3d)]
        weight, bias = _folded(*pairs[0])
        self.first_weight = weight.flip(1).contiguous(memory_format=torch.channels_last_3d)  # RGB input
        self.first_bias = bias
        first = pairs[0][0]
        self.first_stride = first.stride
        self.convs = []
        for conv, bn in pairs[1:]:
            weight, bias = _folded(conv, bn)
            self.convs.append((weight[:, :, 0].contiguous(memory_format=torch.channels_last), bias,
                               conv.stride[1:], conv.padding[1:]))
        self.pools = [layer for layer in layers if isinstance(layer, nn.MaxPool3d)]
        self.fc = model.netfclip

    @staticmethod
    def _pool(pool: nn.MaxPool3d, x: torch.Tensor) -> torch.Tensor:
        padding = pool.padding if isinstance(pool.padding, tuple) else (pool.padding,) * 3
        return F.max_pool2d(x, pool.kernel_size[1:], pool.stride[1:], padding[1:])

    @torch.no_grad()
    def __call__(self, frames_rgb: torch.Tensor) -> torch.Tensor:
        """(T, 3, 224, 224) float RGB 0..255 (channels-last) -> (T - 4, D) window embeddings."""
        video = frames_rgb.permute(1, 0, 2, 3).unsqueeze(0)  # (1, 3, T, H, W); channels-last 3-D memory
        x = F.relu_(F.conv3d(video.contiguous(memory_format=torch.channels_last_3d), self.first_weight,
                             self.first_bias, self.first_stride))
        x = x[0].permute(1, 0, 2, 3)  # (T - 4, C, h, w), channels-last 2-D memory
        # Layer order of netcnnlip: conv1 pool conv2 pool conv3 conv4 conv5 pool conv6
        x = self._pool(self.pools[0], x)
        x = F.relu_(F.conv2d(x, *self.convs[0]))
        x = self._pool(self.pools[1], x)
        for index in (1, 2, 3):
            x = F.relu_(F.conv2d(x, *self.convs[index]))
        x = self._pool(self.pools[2], x)
        x = F.relu_(F.conv2d(x, *self.convs[4]))
        return self.fc(x.reshape(x.shape[0], -1))



def resize_frames(frames_rgb: np.ndarray, size: int = FRAME_SIZE) -> torch.Tensor:
    """(T, H, W, 3) uint8 RGB -> (T, 3, size, size) float RGB 0..255, channels-last, bilinear."""
    video = torch.from_numpy(np.ascontiguousarray(frames_rgb)).permute(0, 3, 1, 2).float()  # channels-last view
    if video.shape[-2:] != (size, size):
        video = F.interpolate(video, size=(size, size), mode="bilinear", align_corners=False)
    return video.contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def embed_video_windows(model: SyncNet, frames_rgb: np.ndarray, n_windows: int, batch_size: int = 24) -> torch.Tensor:
    """Video embeddings (n_windows, D) of windows i = 0..n_windows-1 (frames i..i+4).

    Runs `LipEmbedder` on chunks of ``batch_size`` windows (``batch_size + 4`` frames), so a long clip
    never sits in memory as 224x224 floats all at once.
    """
    model.eval()
    frames_rgb = np.asarray(frames_rgb)
    if frames_rgb.ndim != 4 or frames_rgb.shape[-1] != 3 or frames_rgb.dtype != np.uint8:
        raise SyncInputError(f"frames must be uint8 RGB (T, H, W, 3), got {frames_rgb.dtype} {frames_rgb.shape}")
    if len(frames_rgb) < n_windows + WINDOW_FRAMES - 1:
        raise SyncInputError(f"{n_windows} windows need {n_windows + WINDOW_FRAMES - 1} frames, got {len(frames_rgb)}")
    device = next(model.parameters()).device
    embedder = LipEmbedder(model)
    embeddings = []
    for start in range(0, n_windows, batch_size):
        stop = min(n_windows, start + batch_size)
        video = resize_frames(frames_rgb[start : stop + WINDOW_FRAMES - 1]).to(device)
        embeddings.append(embedder(video).cpu())
    return torch.cat(embeddings)


@torch.no_grad()
def embed_audio_windows(model: SyncNet, mfcc_features: np.ndarray, n_windows: int, batch_size: int = 200) -> torch.Tensor:
    """Audio embeddings (n_windows, D) of windows i = 0..n_windows-1 (MFCC frames 4i..4i+19)."""
    model.eval()
    device = next(model.parameters()).device
    needed_mfcc = (n_windows - 1) * MFCC_PER_VIDEO_FRAME + MFCC_WINDOW
    if len(mfcc_features) < needed_mfcc:
        raise SyncInputError(f"{n_windows} windows need {needed_mfcc} MFCC frames, got {len(mfcc_features)}")
    mfcc_tensor = torch.from_numpy(np.ascontiguousarray(mfcc_features.T)).float()  # (13, n_mfcc)
    windows = mfcc_tensor.unfold(1, MFCC_WINDOW, MFCC_PER_VIDEO_FRAME)[:, :n_windows]  # (13, n_windows, 20)
    windows = windows.permute(1, 0, 2).unsqueeze(1).contiguous()  # (n_windows, 1, 13, 20)
    return torch.cat([model.forward_aud(windows[i : i + batch_size].to(device)).cpu()
                      for i in range(0, n_windows, batch_size)])


def embed_windows(
    model: SyncNet, frames_rgb: np.ndarray, mfcc_features: np.ndarray, n_windows: int, batch_size: int = 20
) -> tuple[torch.Tensor, torch.Tensor]:
    """Video and audio embeddings (n_windows, D) of windows i = 0..n_windows-1 (reference pairing):
    window i is video frames i..i+4 with MFCC frames 4i..4i+19."""
    return (embed_video_windows(model, frames_rgb, n_windows, batch_size),
            embed_audio_windows(model, mfcc_features, n_windows))


def offset_distances(
    video_embeddings: torch.Tensor, audio_embeddings: torch.Tensor, vshift: int = DEFAULT_VSHIFT
) -> torch.Tensor:
    """(N, 2*vshift+1) table: distance between video embedding i and audio embedding i + k - vshift.

    Audio embeddings outside 0..N-1 are zero vectors, exactly as the reference pads them.
    """
    if video_embeddings.shape != audio_embeddings.shape or video_embeddings.ndim != 2:
        raise SyncInputError(
            f"embeddings must both be (N, D), got {tuple(video_embeddings.shape)} and {tuple(audio_embeddings.shape)}"
        )
    n_windows = video_embeddings.shape[0]
    padded_audio = F.pad(audio_embeddings, (0, 0, vshift, vshift))
    shift_index = torch.arange(n_windows)[:, None] + torch.arange(2 * vshift + 1)[None, :]
    candidates = padded_audio[shift_index]  # (N, 2*vshift+1, D)
    return F.pairwise_distance(video_embeddings[:, None, :].expand_as(candidates), candidates)


@dataclass(frozen=True)
class SyncResult:
    offset: int  # frames; vshift - argmin of the mean distances (reference sign convention)
    confidence: float  # Sync_conf / LSE-C: median - min of the mean distances
    min_distance: float  # LSE-D
    mean_distances: np.ndarray  # (2*vshift+1,), index k is shift k - vshift


def sync_from_distances(distances: torch.Tensor | np.ndarray) -> SyncResult:
    """Offset, confidence and LSE-D from an (N, 2*vshift+1) distance table (reference arithmetic)."""
    distances = torch.as_tensor(distances)
    if distances.ndim != 2 or distances.shape[1] % 2 != 1 or distances.shape[0] == 0:
        raise SyncInputError(f"distance table must be (N>0, odd number of shifts), got {tuple(distances.shape)}")
    vshift = (distances.shape[1] - 1) // 2
    mean_distances = distances.mean(dim=0)
    min_value, min_index = torch.min(mean_distances, 0)
    return SyncResult(
        offset=int(vshift - min_index),
        confidence=float(torch.median(mean_distances) - min_value),
        min_distance=float(min_value),
        mean_distances=mean_distances.numpy().astype(np.float64),
    )


def evaluate_sync(
    model: SyncNet,
    frames_rgb: np.ndarray,
    audio: np.ndarray,
    fps: float = VIDEO_FPS,
    sample_rate: int = SAMPLE_RATE,
    vshift: int = DEFAULT_VSHIFT,
    batch_size: int = 20,
) -> SyncResult:
    """SyncNet offset/confidence/LSE-D of a face-crop video (25 fps) with its 16 kHz mono audio."""
    if abs(fps - VIDEO_FPS) > 1e-6:
        raise SyncInputError(f"SyncNet needs {VIDEO_FPS} fps video, got {fps:g} fps; resample first")
    if sample_rate != SAMPLE_RATE:
        raise SyncInputError(f"SyncNet needs {SAMPLE_RATE} Hz audio, got {sample_rate} Hz; resample first")
    samples = audio_to_int16_scale(audio)
    n_windows = window_count(len(frames_rgb), len(samples))
    if n_windows <= 0:
        raise SyncInputError(
            f"clip too short for SyncNet: {len(frames_rgb)} frames and {len(samples)} samples give {n_windows} windows"
        )
    video_emb, audio_emb = embed_windows(model, np.asarray(frames_rgb), mfcc(samples), n_windows, batch_size)
    return sync_from_distances(offset_distances(video_emb, audio_emb, vshift))
