"""Configuration of TalkCLIP training (``params.yaml`` sections ``train`` and ``sync``).

Paper values (TalkCLIP sec. 4.2): L = 64 frames, mu = 0.1, lambda_rec = 88, lambda_cos = lambda_sync =
lambda_tem = 1, p rising from 0 to 0.5 over stage 2. The paper gives no batch size, learning rate or
step counts; the defaults below are this project's choices (StyleTalk's training code was never
released either) and are marked as such.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from .loader import require


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    # "auto" = CUDA when available, else CPU.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Project choices (not in the paper): batch size, Adam learning rates and betas.
    batch_size: int = 32
    lr: float = 1e-4
    # The generator's (decoder, encoders) learning rate in stage 2; 0 = lr. The T2SS adapter always uses lr.
    stage2_lr: float = 0.0
    # Stage 2: Gaussian noise of this standard deviation (per dimension) added to the text embedding e_t
    # before the T2SS adapter, in training only; 0 = none (the paper). The backbone's embeddings have
    # unit length, so 0.05 x sqrt(384) is a perturbation about as long as e_t itself (docs/DESIGN.md).
    text_noise: float = 0.0
    disc_lr: float = 1e-4
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    # L: frames of each training window (paper: 64), used by L_rec, D_tem and D_sync.
    clip_frames: int = 64
    # Where the style reference clip comes from (StyleTalk/TalkCLIP self-driven training):
    # "same_clip": the target's own clip (its paired description applies to it by construction);
    # "same_group": another train clip of the same speaker, emotion and level when one exists.
    style_source: Literal["same_clip", "same_group"] = "same_clip"
    # Stage 1: video style code only. Stage 2: text code with probability p, L_cos throughout.
    stage1_steps: int = 10000
    stage2_steps: int = 10000
    p_schedule: Literal["linear", "cosine", "step"] = "linear"
    p_start: float = 0.0
    p_final: float = 0.5
    # Plateaus of the "step" p schedule (p_start ... p_final evenly spaced).
    p_step_levels: int = 5
    lambda_rec: float = 88.0
    lambda_cos: float = 1.0
    lambda_sync: float = 1.0
    lambda_tem: float = 1.0
    mu: float = 0.1
    # How L_rec's SSIM term is taken over the (L, 64) coefficient sequences (talkclip/model/losses.py;
    # the paper does not say): "standardized" = 1-D SSIM per coefficient on z-scores of the training
    # frames with constants from their span (measured best), "range" = on tracks mapped to [0, 1] by
    # each coefficient's range, "coefficient" = on the raw signed tracks, "image" = 2-D SSIM.
    ssim_form: Literal["coefficient", "range", "standardized", "image"] = "standardized"
    # L_cos gradient: "text" = s_v is the teacher (stop-gradient; the paper's "the video encoder acts
    # as a guide" for E_t), "both" = s_t and s_v are pulled together (s_v may drift toward the text
    # embeddings). With "text" and model.use_adapter False, L_cos trains nothing and is only reported.
    cos_gradient: Literal["text", "both"] = "text"
    checkpoint_every: int = 1000
    log_every: int = 100
    # Learning curves (talkclip/training/monitor.py): style metrics on the validation speakers every
    # this many steps (always at each stage end); 0 = none.
    eval_every: int = 0
    # Which TA-MEAD descriptions train the text encoder: "full" (emotion label + AU phrases) or
    # "simanno" (the emotion label alone; the paper's SimAnno ablation).
    descriptions: Literal["full", "simanno"] = "full"
    # Video guidance (paper sec. 4.1.2): stage 1 (V2SS pretraining), then the text code with probability
    # p and L_cos. False is the paper's "w/o VG": the text code on every step, no V2SS, no L_cos, for the
    # steps of both stages.
    video_guided: bool = True
    # DataLoader worker processes assembling batches; 0 = in the training process.
    num_workers: int = 0
    # torch intra-op threads of the training process; 0 = $OMP_NUM_THREADS, else every usable core
    # (talkclip.device.set_threads).
    threads: int = 0
    # Data-parallel training on Ray Train (talkclip/training/distributed.py): this many training processes
    # (DDP), each on its own contiguous slice of every batch, so the global batch stays train.batch_size.
    # 0 or 1 = this process alone, without Ray. (Not num_workers: those only assemble batches.)
    workers: int = 1
    # Give each Ray Train worker one GPU (NCCL) instead of one CPU (gloo); needs train.workers > 1.
    use_gpu: bool = False
    # An existing Ray cluster, HOST:PORT (`ray start --head` prints it); "" = a local Ray for this run.
    address: str = ""

    def __post_init__(self) -> None:
        require(self.batch_size >= 1, "train.batch_size", ">= 1", self.batch_size)
        require(math.isfinite(self.stage2_lr) and self.stage2_lr >= 0, "train.stage2_lr", "a finite value >= 0 (0 = lr)",
                self.stage2_lr)
        require(math.isfinite(self.text_noise) and self.text_noise >= 0, "train.text_noise", "a finite value >= 0 (0 = none)",
                self.text_noise)
        for key in ("lr", "disc_lr"):
            value = getattr(self, key)
            require(math.isfinite(value) and value > 0, f"train.{key}", "a finite value > 0", value)
        for key in ("adam_beta1", "adam_beta2"):
            value = getattr(self, key)
            require(0.0 <= value < 1.0, f"train.{key}", "0 <= value < 1", value)
        require(self.clip_frames >= 2, "train.clip_frames", ">= 2 frames", self.clip_frames)
        require(self.stage1_steps >= 0, "train.stage1_steps", ">= 0", self.stage1_steps)
        # The text style encoder is only trained in stage 2: a run without it has no text model.
        require(self.stage2_steps >= 1, "train.stage2_steps", ">= 1", self.stage2_steps)
        for key in ("p_start", "p_final"):
            value = getattr(self, key)
            require(0.0 <= value <= 1.0, f"train.{key}", "a probability in [0, 1]", value)
        require(self.p_step_levels >= 2, "train.p_step_levels", ">= 2", self.p_step_levels)
        for key in ("lambda_rec", "lambda_cos", "lambda_sync", "lambda_tem"):
            value = getattr(self, key)
            require(math.isfinite(value) and value >= 0, f"train.{key}", "a finite value >= 0", value)
        require(0.0 <= self.mu <= 1.0, "train.mu", "0 <= mu <= 1", self.mu)
        require(self.checkpoint_every >= 1, "train.checkpoint_every", ">= 1", self.checkpoint_every)
        require(self.log_every >= 1, "train.log_every", ">= 1", self.log_every)
        require(self.eval_every >= 0, "train.eval_every", ">= 0 (0 = no learning curves)", self.eval_every)
        require(self.eval_every % self.log_every == 0, "train.eval_every",
                f"a multiple of train.log_every ({self.log_every}): curves are measured at logging steps",
                self.eval_every)
        require(self.num_workers >= 0, "train.num_workers", ">= 0", self.num_workers)
        require(self.threads >= 0, "train.threads", ">= 0 (0 = automatic)", self.threads)
        require(self.workers >= 0, "train.workers", ">= 0 (0 or 1 = this process alone)", self.workers)
        if self.workers > 1:
            # DDP averages the workers' gradients: equal slices make that the full batch's gradient.
            require(self.batch_size % self.workers == 0, "train.batch_size",
                    f"a multiple of train.workers ({self.workers}), so that every worker trains on an equal "
                    f"slice of each batch", self.batch_size)
            # Ray gives a worker no GPU unless asked (it hides them): "cuda" there could never run.
            require(self.use_gpu or self.device != "cuda", "train.use_gpu",
                    f"true with train.device 'cuda' and train.workers {self.workers}", self.use_gpu)
        else:
            # A single-process run never starts Ray: a GPU or cluster request would be silently ignored.
            require(not self.use_gpu, "train.use_gpu",
                    f"false with train.workers {self.workers} (it asks Ray Train for GPUs; one process uses "
                    f"train.device)", self.use_gpu)
            require(not self.address, "train.address",
                    f"'' with train.workers {self.workers} (a Ray cluster trains only with train.workers > 1)",
                    self.address)
        require(not (self.use_gpu and self.device == "cpu"), "train.device",
                "'auto' or 'cuda' with train.use_gpu true", self.device)


@dataclass(frozen=True)
class SyncPretrainConfig:
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    batch_size: int = 64
    lr: float = 1e-4
    steps: int = 3000
    # L: frames per (expression, phoneme) window; should equal train.clip_frames (the windows L_sync scores).
    clip_frames: int = 64
    # Negatives: phonemes shifted by min_shift..max_shift frames (either direction) within the same
    # clip, or (with probability other_clip_prob, or when the clip is too short to shift) the
    # phonemes of another clip.
    min_shift: int = 5
    max_shift: int = 25
    other_clip_prob: float = 0.5
    # Held-out evaluation: this many windows (half in sync) from test-split clips, fixed by seed.
    eval_windows: int = 512
    log_every: int = 100
    threads: int = 0  # as train.threads

    def __post_init__(self) -> None:
        require(self.batch_size >= 2, "sync.batch_size", ">= 2 (positives and negatives)", self.batch_size)
        require(math.isfinite(self.lr) and self.lr > 0, "sync.lr", "a finite value > 0", self.lr)
        require(self.steps >= 1, "sync.steps", ">= 1", self.steps)
        require(self.clip_frames >= 2, "sync.clip_frames", ">= 2 frames", self.clip_frames)
        require(self.min_shift >= 1, "sync.min_shift", ">= 1 frame", self.min_shift)
        require(
            self.max_shift >= self.min_shift, "sync.max_shift", f">= sync.min_shift ({self.min_shift})", self.max_shift
        )
        require(0.0 <= self.other_clip_prob <= 1.0, "sync.other_clip_prob", "a probability in [0, 1]",
                 self.other_clip_prob)
        require(self.eval_windows >= 2, "sync.eval_windows", ">= 2", self.eval_windows)
        require(self.log_every >= 1, "sync.log_every", ">= 1", self.log_every)
        require(self.threads >= 0, "sync.threads", ">= 0 (0 = automatic)", self.threads)
