"""Loading a network's weights from a file the user brings (nothing is downloaded at run time).

`load_state_dict_file` reads a PyTorch file with ``weights_only=True`` (no code runs from it), unwraps
the usual containers (``state_dict`` / ``model`` / ``net`` entries, ``module.`` prefixes of
DataParallel), and `apply_state_dict` checks every parameter and buffer of the architecture against it
(missing keys, unexpected keys, wrong shapes), naming the file and what was expected. BatchNorm's
``num_batches_tracked`` counters may be absent (older PyTorch wrote none; eval mode does not use them).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class WeightsError(ValueError):
    """A weights file is missing, unreadable or does not fit the architecture."""


def load_state_dict_file(path: str | Path, expected: str) -> dict[str, torch.Tensor]:
    """The state dict in ``path``; ``expected`` says in words which file that should be (for errors)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist; expected {expected}")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- not a torch file, a pickle of arbitrary objects, truncated, ...
        raise WeightsError(f"{path}: not a PyTorch state dict ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:160]}); expected {expected}") from None
    for key in ("state_dict", "model", "net"):
        if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
            loaded = loaded[key]
            break
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise WeightsError(f"{path}: holds a {type(loaded).__name__}, not a dict of tensors; expected {expected}")
    return {k.removeprefix("module."): v for k, v in loaded.items()}


def apply_state_dict(model: nn.Module, state: dict[str, torch.Tensor], path: str | Path, expected: str) -> nn.Module:
    """Load ``state`` into ``model`` after checking names and shapes; returns the model in eval mode."""
    own = model.state_dict()
    optional = {k for k in own if k.endswith("num_batches_tracked")}
    missing = sorted(set(own) - set(state) - optional)
    unexpected = sorted(set(state) - set(own))
    wrong = [f"{k} {tuple(state[k].shape)} (expected {tuple(own[k].shape)})"
             for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        raise WeightsError(f"{path}: does not fit {expected}: missing {missing[:4]}, unexpected {unexpected[:4]}, "
                           f"wrong shape {wrong[:4]} ({len(missing)} / {len(unexpected)} / {len(wrong)} in all)")
    model.load_state_dict({**{k: own[k] for k in optional}, **state})
    return model.eval()


def architecture_keys(model: nn.Module) -> dict[str, list[int]]:
    """{state-dict key: shape} of an architecture (what the tests compare with the published files)."""
    return {k: list(v.shape) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
