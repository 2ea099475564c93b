"""Which expression space a coefficient file holds (see :mod:`talkclip.expression`).

The rule, in order, for a Deep3DFaceRecon-format ``.mat``:

1. the space the file declares (``expression_space`` key; the embedded corpus writes ``embedded``);
2. ``embedded`` when an embedded-corpus ground-truth sidecar sits beside it (corpora generated
   before the key existed);
3. otherwise ``bfm``: Deep3DFaceRecon, the fitter that writes this format, fits BFM.

A processed clip (``clips/{clip_id}.npz``) records its space; an embedded-corpus sidecar ``.npz``
(it has an ``identity`` entry) is ``embedded``. A caller that knows better can override the rule
(``talkclip generate --style-space``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkclip.corpus.layout import groundtruth_for_coeffs
from talkclip.expression import (
    BFM_SPACE,
    EMBEDDED_SPACE,
    check_expression,
    check_space,
    legacy_space,
)
from talkclip.formats.mat3dmm import declared_expression_space, read_mat


def coeffs_file_space(path: str | Path) -> tuple[str, str]:
    """(space, why) of a ``.mat`` by the rule of this module."""
    path = Path(path)
    declared = declared_expression_space(path)
    if declared is not None:
        return declared, f"declared in {path}"
    sidecar = groundtruth_for_coeffs(path)
    if sidecar.is_file():
        return EMBEDDED_SPACE, f"embedded-corpus sidecar {sidecar} beside it"
    return BFM_SPACE, "a Deep3DFaceRecon .mat without an expression_space key (BFM coefficients)"


@dataclass(frozen=True)
class StyleClip:
    """Expression coefficients of a style reference and the space they are in."""

    expression: np.ndarray  # (S, 64) float32
    space: str
    source: str  # the file and why it is in that space, for error messages


def read_style_clip(path: str | Path, space: str | None = None) -> StyleClip:
    """The (S, 64) expression of a style reference file with its space.

    Accepts a Deep3DFaceRecon ``.mat``, a processed clip ``.npz`` or an embedded-corpus sidecar
    ``.npz``. ``space`` overrides the file's own space (the caller vouches for it).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: style clip not found")
    if path.suffix.lower() == ".mat":
        expression = read_mat(path).expression
        found, why = coeffs_file_space(path) if space is None else (space, "given by the caller")
    elif path.suffix.lower() == ".npz":
        with np.load(path, allow_pickle=False) as data:
            if "expression" not in data.files:
                raise ValueError(f"{path}: no 'expression' array (expected a processed clip or a corpus sidecar)")
            expression = data["expression"]
            if space is not None:
                found, why = space, "given by the caller"
            elif "expression_space" in data.files:
                found, why = str(data["expression_space"]), f"recorded in {path}"
            elif "identity" in data.files:
                found, why = EMBEDDED_SPACE, f"{path} is an embedded-corpus sidecar"
            else:
                found, why = legacy_space(f"processed clip {path}"), "assumed for a file that records none"
    else:
        raise ValueError(f"{path}: a style clip must be a .mat (Deep3DFaceRecon) or .npz (processed clip), "
                         f"got {path.suffix or 'no extension'}")
    return StyleClip(check_expression(expression, str(path)), check_space(found, str(path)), f"style clip {path} ({why})")
