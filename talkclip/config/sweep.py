"""Configuration of Ray Tune hyper-parameter sweeps (``params.yaml`` section ``sweep``).

The search space covers what the paper fixes by hand (sec. 4.2): the shape and final value of the
text-code probability schedule p, the adapter blending ratio beta (eq. 1) and the four loss weights.
Ranges are ``[low, high]``; ``[x, x]`` fixes a value. Loss weights are sampled log-uniformly (their
scale, not their offset, matters: lambda_rec = 88 next to lambda_cos = 1), so their lows must be > 0
unless the range is fixed; p_final and beta uniformly.

Trials are scored on held-out windows (talkclip.training.validation) and stopped early by ASHA, whose
time unit here is the training step (``grace_period`` / ``max_t`` are steps).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from .loader import ConfigError

P_SCHEDULES = ("linear", "cosine", "step")
# Metrics of talkclip.training.validation.ValidationSet.evaluate and the direction that is better.
VALIDATION_METRIC_MODES = {
    "val_rec": "min",  # eq. 2 reconstruction loss with the text style code (the deployed path)
    "val_l1": "min",  # plain L1 of the same predictions
    "val_rec_video": "min",  # eq. 2 with the video style code of the clip itself
    "val_emotion_acc": "max",  # text code -> nearest video-code emotion centroid, accuracy
}


def _range(value: tuple[float, float], key: str, lower: float, upper: float, log: bool) -> None:
    low, high = value
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ConfigError(f"sweep.{key}: expected [low, high] with low <= high, got {list(value)}")
    if low < lower or high > upper:
        raise ConfigError(f"sweep.{key}: expected values within [{lower}, {upper}], got {list(value)}")
    if log and low != high and low <= 0:
        raise ConfigError(
            f"sweep.{key}: sampled log-uniformly, so low must be > 0 (or fix the value with [x, x]), got {list(value)}"
        )


@dataclass(frozen=True)
class SweepConfig:
    # Ray Tune experiment name; the folder is <storage_path>/<name>-<hash of the sweep's inputs>,
    # so a changed search space or base config starts a new experiment instead of resuming an old one.
    name: str = "talkclip_sweep"
    num_samples: int = 8
    # Trials running at once; 0 = as many as the CPUs allow (cpus / cpus_per_trial).
    max_concurrent_trials: int = 0
    cpus_per_trial: int = 1
    metric: str = "val_rec"
    mode: Literal["min", "max"] = "min"
    # ASHA early stopping, in training steps: no trial is stopped before grace_period steps;
    # 1/reduction_factor of the trials go on at each rung; max_t = 0 means stage1 + stage2 steps.
    grace_period: int = 200
    reduction_factor: float = 2.0
    max_t: int = 0
    # Held-out windows scored at every train.log_every steps (fixed by eval_seed).
    eval_windows: int = 64
    eval_seed: int = 0
    # Search space.
    p_schedule: list[str] = field(default_factory=lambda: list(P_SCHEDULES))
    p_final: tuple[float, float] = (0.3, 0.7)
    beta: tuple[float, float] = (0.3, 0.9)
    lambda_rec: tuple[float, float] = (22.0, 352.0)
    lambda_cos: tuple[float, float] = (0.25, 4.0)
    lambda_sync: tuple[float, float] = (0.25, 4.0)
    lambda_tem: tuple[float, float] = (0.25, 4.0)
    # Seed of the random search (the trials' sampled values).
    seed: int = 0
    # Ray Tune results folder; a relative path is taken under the repository.
    storage_path: str = "ray_results"
    # Continue an interrupted sweep of the same inputs (finished trials are kept, unfinished ones
    # resume from their last training checkpoint); false starts the experiment over.
    resume: bool = True
    # Retries of a crashed trial before it is marked ERROR (the sweep goes on either way).
    max_failures: int = 0

    def __post_init__(self) -> None:
        if not self.name or any(c in self.name for c in "/\\ ") or self.name.startswith("."):
            raise ConfigError(f"sweep.name: expected a folder name without '/', '\\' or spaces, got {self.name!r}")
        if self.num_samples < 1:
            raise ConfigError(f"sweep.num_samples: expected >= 1, got {self.num_samples}")
        if self.max_concurrent_trials < 0:
            raise ConfigError(f"sweep.max_concurrent_trials: expected >= 0 (0 = CPU-bound), got {self.max_concurrent_trials}")
        if self.cpus_per_trial < 1:
            raise ConfigError(f"sweep.cpus_per_trial: expected >= 1, got {self.cpus_per_trial}")
        if self.metric not in VALIDATION_METRIC_MODES:
            raise ConfigError(f"sweep.metric: expected one of {sorted(VALIDATION_METRIC_MODES)}, got {self.metric!r}")
        if self.mode != VALIDATION_METRIC_MODES[self.metric]:
            raise ConfigError(
                f"sweep.mode: {self.metric} is better when {'lower' if VALIDATION_METRIC_MODES[self.metric] == 'min' else 'higher'}, "
                f"so expected {VALIDATION_METRIC_MODES[self.metric]!r}, got {self.mode!r}"
            )
        if self.grace_period < 1:
            raise ConfigError(f"sweep.grace_period: expected >= 1 step, got {self.grace_period}")
        if not (math.isfinite(self.reduction_factor) and self.reduction_factor > 1):
            raise ConfigError(f"sweep.reduction_factor: expected > 1, got {self.reduction_factor}")
        if self.max_t != 0 and self.max_t < self.grace_period:
            raise ConfigError(
                f"sweep.max_t: expected 0 (all steps) or >= sweep.grace_period ({self.grace_period}), got {self.max_t}"
            )
        if self.eval_windows < 1:
            raise ConfigError(f"sweep.eval_windows: expected >= 1, got {self.eval_windows}")
        if not self.p_schedule:
            raise ConfigError(f"sweep.p_schedule: expected a non-empty list of {list(P_SCHEDULES)}")
        unknown = [s for s in self.p_schedule if s not in P_SCHEDULES]
        if unknown or len(set(self.p_schedule)) != len(self.p_schedule):
            raise ConfigError(f"sweep.p_schedule: expected distinct values of {list(P_SCHEDULES)}, got {self.p_schedule}")
        _range(self.p_final, "p_final", 0.0, 1.0, log=False)
        _range(self.beta, "beta", 0.0, 1.0, log=False)
        for key in ("lambda_rec", "lambda_cos", "lambda_sync", "lambda_tem"):
            _range(getattr(self, key), key, 0.0, math.inf, log=True)
        if not self.storage_path:
            raise ConfigError("sweep.storage_path: expected a folder (relative paths are under the repository)")
        if self.max_failures < 0:
            raise ConfigError(f"sweep.max_failures: expected >= 0, got {self.max_failures}")
