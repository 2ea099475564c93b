"""Where training runs: the ``device`` setting of the train, sync and syncnet sections."""
from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """"auto" -> CUDA when available, else CPU; "cuda" without a GPU is an error, not a silent fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch finds no CUDA GPU; use device: auto or cpu")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device {name!r}: expected 'auto', 'cpu' or 'cuda'")
    return torch.device(name)
