"""Pretraining of the lip-sync discriminator D_sync (StyleTalk's, used frozen by TalkCLIP, sec. 4.2).

D_sync learns P(in sync) for an (L-frame expression window, phoneme window) pair from real clips:
- positives: the expression of frames a..a+L-1 with the phonemes of the same frames;
- negatives: the same expression with the phonemes of frames a+s..a+s+L-1 of the same clip,
  min_shift <= |s| <= max_shift (kept inside the clip, so SIL padding is no cue), or with
  probability ``other_clip_prob`` (and whenever no such shift fits) the phonemes of a window of
  another clip.
Every batch holds as many positives as negatives. Held-out accuracy is measured on a fixed,
seeded set of windows from the *test* split (unseen speakers), so it says whether D_sync learned
mouth/phoneme correspondence rather than memorised training clips. The trainer loads the result
frozen (``load_sync_discriminator``).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from talkclip.config.loader import to_dict
from talkclip.config.model import ModelConfig
from talkclip.config.train import SyncPretrainConfig
from talkclip.device import resolve_device
from talkclip.expression import require_same_space
from talkclip.model.discriminators import SyncDiscriminator
from talkclip.preprocess.dataset import dataset_expression_space

from .checkpoint import (
    CheckpointError,
    CheckpointMismatchError,
    checkpoint_expression_space,
    config_mismatches,
    load_checkpoint,
    save_checkpoint,
)
from .data import ClipStore, TrainingDataError, phoneme_windows_np

# Sampling streams of (seed, stream, step) generators (see data.py).
STREAM_SYNC_TRAIN = 10
STREAM_SYNC_EVAL = 11
# The model.* keys that shape D_sync; the only ones a sync checkpoint must agree on with the model config.
SYNC_MODEL_KEYS = ("n_phonemes", "window", "expression_dim", "sync_disc_hidden")


def step_seed(seed: int, *parts: int) -> int:
    """A 63-bit torch seed derived from the run seed and a (stream, step, ...) position."""
    return int(np.random.SeedSequence([seed, *parts]).generate_state(2, dtype=np.uint64)[0] >> np.uint64(1))


@dataclass
class SyncPairs:
    expression: torch.Tensor  # (N, L, 64) float32
    phoneme_windows: torch.Tensor  # (N, L, 2w+1) int64
    label: torch.Tensor  # (N,) float32, 1 = in sync


def sample_sync_pairs(
    store: ClipStore, rng: np.random.Generator, n: int, clip_frames: int, window: int, cfg: SyncPretrainConfig
) -> SyncPairs:
    """``n`` pairs, the first ``n // 2`` in sync, the rest negatives (see the module docstring)."""
    L = clip_frames
    expressions, windows, labels = [], [], []
    n_positive = n // 2
    for item in range(n):
        i = int(rng.integers(0, len(store)))
        clip = store.clips[i]
        start = int(rng.integers(0, clip.frames - L + 1))
        expressions.append(clip.expression[start : start + L])
        if item < n_positive:
            windows.append(phoneme_windows_np(clip.phonemes, start, L, window))
            labels.append(1.0)
            continue
        shifts = np.concatenate([np.arange(cfg.min_shift, cfg.max_shift + 1), -np.arange(cfg.min_shift, cfg.max_shift + 1)])
        shifts = shifts[(start + shifts >= 0) & (start + shifts <= clip.frames - L)]
        use_other = len(store) > 1 and (len(shifts) == 0 or rng.random() < cfg.other_clip_prob)
        if use_other:
            j = int(rng.integers(0, len(store) - 1))
            other = store.clips[j if j < i else j + 1]  # any clip but i
            other_start = int(rng.integers(0, other.frames - L + 1))
            windows.append(phoneme_windows_np(other.phonemes, other_start, L, window))
        elif len(shifts):
            shift = int(shifts[int(rng.integers(0, len(shifts)))])
            windows.append(phoneme_windows_np(clip.phonemes, start + shift, L, window))
        else:
            raise TrainingDataError(
                f"cannot build a negative sync pair: one clip of {clip.frames} frames is too short for a shift of "
                f">= {cfg.min_shift} frames with L = {L}; add clips or lower sync.min_shift"
            )
        labels.append(0.0)
    return SyncPairs(
        expression=torch.from_numpy(np.stack(expressions)),
        phoneme_windows=torch.from_numpy(np.stack(windows)),
        label=torch.tensor(labels, dtype=torch.float32),
    )


@torch.no_grad()
def sync_accuracy(disc: torch.nn.Module, pairs: SyncPairs, device: torch.device, chunk: int = 256) -> float:
    """Fraction of pairs where sigmoid(logit) > 0.5 agrees with the label."""
    was_training = disc.training
    disc.eval()
    correct = 0
    for i in range(0, len(pairs.label), chunk):
        logits = disc(pairs.expression[i : i + chunk].to(device), pairs.phoneme_windows[i : i + chunk].to(device))
        correct += int(((logits > 0).float().cpu() == pairs.label[i : i + chunk]).sum())
    disc.train(was_training)
    return correct / len(pairs.label)


@dataclass
class SyncPretrainResult:
    checkpoint: Path
    heldout_accuracy: float
    train_accuracy: float  # on the last logged training batches
    final_loss: float
    steps: int
    windows_per_second: float
    n_train_clips: int
    n_test_clips: int
    skipped_clips: dict[str, int] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)


def pretrain_sync(
    model_cfg: ModelConfig,
    sync_cfg: SyncPretrainConfig,
    processed_dir: str | Path,
    out_path: str | Path,
    on_log: Callable[[str, int, dict[str, float]], None] | None = None,
) -> SyncPretrainResult:
    """Train D_sync on the train split, report held-out accuracy on the test split, save ``out_path``."""
    device = resolve_device(sync_cfg.device)
    L = sync_cfg.clip_frames
    train_store = ClipStore.load(processed_dir, "train", L)
    test_store = ClipStore.load(processed_dir, "test", L)
    eval_pairs = sample_sync_pairs(
        test_store, np.random.default_rng([sync_cfg.seed, STREAM_SYNC_EVAL, 0]), sync_cfg.eval_windows, L,
        model_cfg.window, sync_cfg,
    )

    torch.manual_seed(sync_cfg.seed)
    disc = SyncDiscriminator(model_cfg).to(device)
    optimizer = torch.optim.Adam(disc.parameters(), lr=sync_cfg.lr)
    history: list[dict] = []
    loss_sum, correct_sum, seen_sum = 0.0, 0, 0
    train_accuracy, last_loss = float("nan"), float("nan")
    start_time = time.perf_counter()
    disc.train()
    for step in tqdm(range(sync_cfg.steps), desc="D_sync pretraining", leave=False):
        torch.manual_seed(step_seed(sync_cfg.seed, STREAM_SYNC_TRAIN, step))
        pairs = sample_sync_pairs(
            train_store, np.random.default_rng([sync_cfg.seed, STREAM_SYNC_TRAIN, step]), sync_cfg.batch_size, L,
            model_cfg.window, sync_cfg,
        )
        label = pairs.label.to(device)
        logits = disc(pairs.expression.to(device), pairs.phoneme_windows.to(device))
        loss = F.binary_cross_entropy_with_logits(logits, label)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.item()
        correct_sum += int(((logits.detach() > 0).float() == label).sum())
        seen_sum += len(label)
        if (step + 1) % sync_cfg.log_every == 0 or step + 1 == sync_cfg.steps:
            n_steps = (step % sync_cfg.log_every) + 1
            last_loss = loss_sum / n_steps
            train_accuracy = correct_sum / seen_sum
            metrics = {"loss": last_loss, "train_accuracy": train_accuracy}
            if step + 1 == sync_cfg.steps or (step + 1) % (sync_cfg.log_every * 10) == 0:
                metrics["heldout_accuracy"] = sync_accuracy(disc, eval_pairs, device)
            history.append({"step": step + 1, **metrics})
            if on_log is not None:
                on_log("sync", step + 1, metrics)
            loss_sum, correct_sum, seen_sum = 0.0, 0, 0
    elapsed = time.perf_counter() - start_time
    heldout = sync_accuracy(disc, eval_pairs, device)
    skipped = {f"train_{k}": len(v) for k, v in train_store.skipped.items()}
    skipped.update({f"test_{k}": len(v) for k, v in test_store.skipped.items()})
    out_path = save_checkpoint(
        out_path,
        modules={"sync_discriminator": disc},
        optimizers={"sync": optimizer},
        progress={"stage": "sync", "step": sync_cfg.steps},
        config={"model": to_dict(model_cfg), "sync": to_dict(sync_cfg),
                "data": {"expression_space": dataset_expression_space(processed_dir)}},
        extra={"heldout_accuracy": heldout, "train_accuracy": train_accuracy, "history": history,
               "skipped_clips": skipped},
    )
    return SyncPretrainResult(
        checkpoint=Path(out_path),
        heldout_accuracy=heldout,
        train_accuracy=train_accuracy,
        final_loss=last_loss,
        steps=sync_cfg.steps,
        windows_per_second=sync_cfg.steps * sync_cfg.batch_size / max(elapsed, 1e-9),
        n_train_clips=len(train_store),
        n_test_clips=len(test_store),
        skipped_clips=skipped,
        history=history,
    )


def load_sync_discriminator(
    path: str | Path, model_cfg: ModelConfig, device: torch.device | str = "cpu", expression_space: str | None = None,
):
    """The pretrained D_sync, frozen (eval mode, no gradients to its parameters).

    With ``expression_space`` (the training data's), a D_sync trained on another space is refused.
    """
    checkpoint = load_checkpoint(path)
    if "sync_discriminator" not in checkpoint["modules"]:
        raise CheckpointError(f"{path}: not a D_sync checkpoint (modules: {sorted(checkpoint['modules'])})")
    if expression_space is not None:
        require_same_space(expression_space, "the training data", checkpoint_expression_space(checkpoint, path),
                           f"D_sync checkpoint {path}")
    current = {"model": {k: v for k, v in to_dict(model_cfg).items() if k in SYNC_MODEL_KEYS}}
    saved = {"model": {k: v for k, v in checkpoint["config"].get("model", {}).items() if k in SYNC_MODEL_KEYS}}
    problems = config_mismatches(saved, current)
    if problems:
        raise CheckpointMismatchError(path, problems)
    disc = SyncDiscriminator(model_cfg)
    disc.load_state_dict(checkpoint["modules"]["sync_discriminator"])
    disc.to(device).eval()
    for parameter in disc.parameters():
        parameter.requires_grad_(False)
    return disc
