"""Training checkpoints: networks, optimisers, schedulers, RNG states, progress and the config.

Everything is stored as tensors and plain Python types so that a checkpoint loads with
``torch.load(weights_only=True)`` (no arbitrary pickled objects are ever executed). Writes are
atomic (talkclip.atomic): a run killed while saving keeps the previous checkpoint.

Resuming checks the stored config against the current one. Every key of the ``model`` section and
every key of the ``train`` section that shapes the computation must match; the keys in
``RESUMABLE_TRAIN_KEYS`` may differ (where the run executes, how often it logs / saves, and the
step counts, so that a finished run can be extended).
"""
from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from talkclip.atomic import atomic_path
from talkclip.expression import check_space, legacy_space

CHECKPOINT_FORMAT = "talkclip-checkpoint-v1"

# train.* keys that may differ between a checkpoint and the run that resumes it. The Ray Train keys
# (workers, use_gpu, address) are where the run executes, like device: with model.dropout 0 another worker
# count computes the same gradients up to float rounding (the all-reduce sums in another order; measured in
# tests/test_training_ddp.py); with dropout > 0 each worker draws its own masks, so the continued run is
# another, equally valid draw, as on another device.
RESUMABLE_TRAIN_KEYS = frozenset({"device", "num_workers", "threads", "log_every", "eval_every", "checkpoint_every",
                                  "stage1_steps", "stage2_steps", "workers", "use_gpu", "address"})


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable or not a TalkCLIP checkpoint."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint was written with a different configuration than the one loading it."""

    def __init__(self, path: str | Path, mismatches: list[str]) -> None:
        self.path = Path(path)
        self.mismatches = mismatches
        super().__init__(
            f"{path}: checkpoint does not match the current configuration; mismatched keys:\n  "
            + "\n  ".join(mismatches)
            + "\n(use a fresh output folder, or restore the checkpoint's values)"
        )

    def __reduce__(self):  # picklable with its arguments: it travels from a Ray Train worker to the driver
        return (type(self), (self.path, self.mismatches))


def capture_rng_state() -> dict[str, Any]:
    """The global RNG states of python ``random``, numpy and torch (CPU and every CUDA device)."""
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": {"version": int(py_version), "state": torch.tensor(py_state, dtype=torch.int64), "gauss": py_gauss},
        "numpy": {
            "name": str(np_name),
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "cached_gaussian": float(np_cached),
        },
        "torch_cpu": torch.get_rng_state(),
        "torch_cuda": [],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["torch_cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    nps = state["numpy"]
    np.random.set_state(
        (nps["name"], nps["keys"].numpy().astype(np.uint32), nps["pos"], nps["has_gauss"], nps["cached_gaussian"])
    )
    torch.set_rng_state(state["torch_cpu"])
    cuda_states = state.get("torch_cuda") or []
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)


def save_checkpoint(
    path: str | Path,
    *,
    modules: Mapping[str, torch.nn.Module],
    optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
    schedulers: Mapping[str, Any] | None = None,
    progress: Mapping[str, Any],
    config: Mapping[str, Mapping[str, Any]],
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically. ``config`` is the plain-dict config (section -> key -> value);
    ``progress`` holds stage / step counters; ``extra`` any other plain data (metrics, history)."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        # State dicts are moved to CPU so a checkpoint written on a GPU loads anywhere.
        "modules": {name: {k: v.detach().cpu() for k, v in m.state_dict().items()} for name, m in modules.items()},
        "optimizers": {name: _to_cpu(opt.state_dict()) for name, opt in (optimizers or {}).items()},
        "schedulers": {name: sch.state_dict() for name, sch in (schedulers or {}).items()},
        "rng": capture_rng_state(),
        "progress": dict(progress),
        "config": {section: dict(values) for section, values in config.items()},
        "extra": dict(extra or {}),
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_cpu(v) for v in obj]
    return obj


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True`` (tensors and plain types only) onto the CPU."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling / zip errors of a corrupt or foreign file
        raise CheckpointError(f"{path}: not a readable checkpoint ({exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path}: expected a {CHECKPOINT_FORMAT} checkpoint, found format {found!r}")
    return payload


def checkpoint_expression_space(checkpoint: Mapping[str, Any], path: str | Path) -> str:
    """The expression space of the data a checkpoint was trained on (``config["data"]``).

    A checkpoint written before the space was recorded is read as the legacy space, with a warning.
    """
    data = checkpoint.get("config", {}).get("data", {})
    if "expression_space" not in data:
        return legacy_space(f"checkpoint {path}")
    return check_space(data["expression_space"], f"checkpoint {path}")


def config_mismatches(
    saved: Mapping[str, Mapping[str, Any]],
    current: Mapping[str, Mapping[str, Any]],
    ignore: Mapping[str, frozenset[str]] | None = None,
) -> list[str]:
    """``section.key: checkpoint X, current Y`` for every differing key of the sections of ``current``."""
    ignore = ignore or {}
    problems: list[str] = []
    for section, values in current.items():
        stored = saved.get(section)
        if stored is None:
            problems.append(f"{section}: missing from the checkpoint")
            continue
        skip = ignore.get(section, frozenset())
        for key in sorted(set(values) | set(stored)):
            if key in skip:
                continue
            if key not in stored:
                problems.append(f"{section}.{key}: not in the checkpoint, current {values[key]!r}")
            elif key not in values:
                problems.append(f"{section}.{key}: checkpoint {stored[key]!r}, unknown to the current config")
            elif stored[key] != values[key]:
                problems.append(f"{section}.{key}: checkpoint {stored[key]!r}, current {values[key]!r}")
    return problems


def check_config(
    path: str | Path,
    checkpoint: Mapping[str, Any],
    current: Mapping[str, Mapping[str, Any]],
    ignore: Mapping[str, frozenset[str]] | None = None,
) -> None:
    """Raise CheckpointMismatchError listing every mismatched key (none -> return)."""
    problems = config_mismatches(checkpoint["config"], current, ignore)
    if problems:
        raise CheckpointMismatchError(path, problems)


def load_module_state(module: torch.nn.Module, state: Mapping[str, Any], source: str) -> None:
    """``module.load_state_dict(state)``, or CheckpointError naming ``source`` and the tensors that do not fit
    (rather than PyTorch's dump of every size mismatch)."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshapen = [f"{key} is {tuple(getattr(state[key], 'shape', ()))} in the file, {tuple(value.shape)} by the config"
                 for key, value in expected.items()
                 if key in state and tuple(getattr(state[key], "shape", ())) != tuple(value.shape)]
    if missing or unexpected or misshapen:
        def listed(items: list[str]) -> str:
            return "; ".join(items[:4]) + (f"; ... ({len(items) - 4} more)" if len(items) > 4 else "")

        problems = ([f"{len(misshapen)} tensor(s) of another shape: {listed(misshapen)}"] if misshapen else []) + (
            [f"missing: {listed(missing)}"] if missing else []) + ([f"unexpected: {listed(unexpected)}"] if unexpected else [])
        raise CheckpointError(
            f"{source}: its tensors do not fit the network its stored config describes ("
            + "; ".join(problems) + "); the file was changed after it was written, or written by other code"
        )
    module.load_state_dict(state)


def restore(
    checkpoint: Mapping[str, Any],
    *,
    modules: Mapping[str, torch.nn.Module],
    optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
    schedulers: Mapping[str, Any] | None = None,
    rng: bool = True,
    source: str = "checkpoint",
) -> None:
    """Load the stored states into the given objects (strict: every named object must be stored).
    ``source`` names the checkpoint in errors (its path)."""
    for kind, stored, targets in (
        ("module", checkpoint["modules"], modules),
        ("optimizer", checkpoint["optimizers"], optimizers or {}),
        ("scheduler", checkpoint["schedulers"], schedulers or {}),
    ):
        for name, target in targets.items():
            if name not in stored:
                raise CheckpointError(f"{source} has no {kind} '{name}' (stored: {sorted(stored)})")
            if kind == "module":
                load_module_state(target, stored[name], f"{source}, module '{name}'")
            else:
                target.load_state_dict(stored[name])
    if rng:
        restore_rng_state(checkpoint["rng"])
