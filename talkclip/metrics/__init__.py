"""Evaluation metrics of the talking-head field with a written protocol (see evaluation/PROTOCOL.md).

- `ssim`: per-frame scikit-image SSIM on RGB, averaged; optional pyiqa PSNR/SSIM/MS-SSIM columns.
- `cpbd`: vectorised CPBD sharpness, identical to the `cpbd` package 1.0.7.
- `landmarks`: F-LMD / M-LMD and landmark sources (exact renderer landmarks, dlib detector).
- `syncnet`: syncnet_python's SyncNet, its MFCC features and offset search (Sync_conf, LSE-D).
- `identity` (CSIM), `lpips`, `fid`, `fvd`, `frechet`, `emotion`, `au_accuracy`: the field's other
  metrics; networks load their weights from files the user brings (`weights`).
- `video_input`, `scoring`, `evaluator`: the standalone evaluator (``talkclip evaluate``);
  `comparison`: bootstrap intervals and paired tests between methods.
"""

from talkclip.metrics.cpbd import cpbd_frame, cpbd_video, to_gray_uint8
from talkclip.metrics.landmarks import (
    MOUTH,
    DlibLandmarks,
    GivenLandmarks,
    LandmarkError,
    LandmarkSource,
    NoFaceError,
    landmark_distance,
    lmd_scores,
    scale_to_crop,
)
from talkclip.metrics.ssim import (
    match_lengths,
    pyiqa_scores,
    resample_fps,
    resample_indices,
    ssim_frames,
    ssim_video,
)
from talkclip.metrics.syncnet import (
    SyncNet,
    SyncResult,
    evaluate_sync,
    load_syncnet,
    mfcc,
    offset_distances,
    sync_from_distances,
)

__all__ = [
    "MOUTH",
    "DlibLandmarks",
    "GivenLandmarks",
    "LandmarkError",
    "LandmarkSource",
    "NoFaceError",
    "SyncNet",
    "SyncResult",
    "cpbd_frame",
    "cpbd_video",
    "evaluate_sync",
    "landmark_distance",
    "lmd_scores",
    "load_syncnet",
    "match_lengths",
    "mfcc",
    "offset_distances",
    "pyiqa_scores",
    "resample_fps",
    "resample_indices",
    "scale_to_crop",
    "ssim_frames",
    "ssim_video",
    "sync_from_distances",
    "to_gray_uint8",
]
