"""Which expression space a checkpoint or a coefficient file is in: "embedded" or "bfm".

- ``embedded``: the embedded corpus's 64 named components (``talkclip.expression``); the embedded
  face model gives their exact landmark motion, so the landmark-warp renderer can draw them.
- ``bfm``: BFM's 64 expression coefficients of Deep3DFaceRecon fits (real MEAD / HDTF data); they
  need BFM's basis (not shipped) or a renderer trained on them (PIRenderer).

A checkpoint records its space under ``expression_space`` (at the top level, or in its config, at
``config["expression_space"]`` or ``config["data"]["expression_space"]``); checkpoints written
before the key existed were all trained on the embedded corpus, so that is the default. A
Deep3DFaceRecon ``.mat`` from a real fit has identity coefficients; the embedded corpus writes its
``.mat`` files with identity zero (``talkclip.formats.mat3dmm.Coeffs3DMM.from_expression_pose``),
which is how the two are told apart.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

EMBEDDED = "embedded"
BFM = "bfm"
SPACES = (EMBEDDED, BFM)


def checkpoint_expression_space(checkpoint: Mapping, where: str = "checkpoint") -> str:
    """The space recorded in a loaded training checkpoint (default ``embedded``)."""
    config = checkpoint.get("config") or {}
    data = config.get("data") if isinstance(config, Mapping) else None
    candidates = [checkpoint.get("expression_space"), config.get("expression_space") if isinstance(config, Mapping)
                  else None, data.get("expression_space") if isinstance(data, Mapping) else None]
    found = next((c for c in candidates if c is not None), EMBEDDED)
    if found not in SPACES:
        raise ValueError(f"{where}: unknown expression space {found!r}; expected one of {SPACES}")
    return str(found)


def mat_expression_space(identity_coefficients: np.ndarray) -> str:
    """``bfm`` for a real Deep3DFaceRecon fit (identity coefficients set), ``embedded`` otherwise."""
    return BFM if np.any(np.abs(np.asarray(identity_coefficients)) > 1e-6) else EMBEDDED


def style_clip_from_file(path: str | Path) -> tuple[np.ndarray, str]:
    """(S, 64) expression coefficients of a reference clip and their space.

    ``.mat``: Deep3DFaceRecon format (space from its identity coefficients); ``.npz``: a processed
    clip or an embedded-corpus sidecar (``expression`` entry; the space is ``expression_space`` if
    recorded, else embedded).
    """
    from talkclip.formats.mat3dmm import read_mat

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".mat":
        coeffs = read_mat(path)
        return coeffs.expression.astype(np.float32), mat_expression_space(coeffs.identity)
    if suffix == ".npz":
        if not path.is_file():
            raise FileNotFoundError(f"style clip {path} does not exist")
        with np.load(path, allow_pickle=False) as data:
            if "expression" not in data.files:
                raise ValueError(f"style clip {path}: no 'expression' entry (found {data.files})")
            expression = np.asarray(data["expression"], dtype=np.float32)
            space = str(data["expression_space"]) if "expression_space" in data.files else EMBEDDED
        return expression, space
    raise ValueError(f"style clip {path}: expected a Deep3DFaceRecon .mat or a processed/sidecar .npz, "
                     f"got {suffix or 'a file without extension'}")
