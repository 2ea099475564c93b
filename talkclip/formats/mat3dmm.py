"""Deep3DFaceRecon / PIRender 3DMM coefficient files (``.mat``).

The field (PIRender's preprocessing, StyleTalk, DreamTalk) stores one row per video frame:

- ``coeff`` (N, 257) float32, the BFM coefficients of Deep3DFaceRecon in this order:
  identity 0:80, expression 80:144, texture 144:224, angles 224:227 (radians),
  lighting 227:254 (27 spherical-harmonics coefficients), translation 254:257;
- ``transform_params`` (N, 5) float32: ``[w0, h0, s, tx, ty]``, the size of the original image
  and the scale and translation of the face crop. PIRender's pose input takes the last 3.

This module reads and writes exactly that, so real files and the embedded corpus share one reader.
A writer may add ``expression_space`` (a string, see :mod:`talkclip.expression`): the embedded
corpus declares ``"embedded"`` in its files; Deep3DFaceRecon writes no such key, and its
expressions are BFM's (:func:`declared_expression_space` reads the key).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

from talkclip.atomic import atomic_path
from talkclip.expression import check_space

COEFF_DIM = 257
TRANSFORM_DIM = 5
# Column ranges of ``coeff``, in file order.
COEFF_SLICES: dict[str, slice] = {
    "identity": slice(0, 80),
    "expression": slice(80, 144),
    "texture": slice(144, 224),
    "angles": slice(224, 227),
    "lighting": slice(227, 254),
    "translation": slice(254, 257),
}
POSE9_DIM = 9  # angles 3 + translation 3 + crop (s, tx, ty) 3


class Mat3DMMError(ValueError):
    """A 3DMM ``.mat`` file (or the arrays for one) does not have the Deep3DFaceRecon layout."""


class Mat3DMMNotFoundError(Mat3DMMError, FileNotFoundError):
    """The ``.mat`` file does not exist."""


def default_transform_params(n_frames: int, image_size: int) -> np.ndarray:
    """``transform_params`` of a face already centred in an ``image_size`` square at scale 1.

    This is what the embedded renderer produces: the crop is the whole frame, so
    ``[w0, h0, s, tx, ty] = [size, size, 1, size / 2, size / 2]`` on every frame.
    """
    row = np.array([image_size, image_size, 1.0, image_size / 2, image_size / 2], dtype=np.float32)
    return np.tile(row, (n_frames, 1))


@dataclass(frozen=True)
class Coeffs3DMM:
    """Per-frame 3DMM coefficients of one clip, split into named parts (all float32, N frames)."""

    identity: np.ndarray  # (N, 80)
    expression: np.ndarray  # (N, 64)
    texture: np.ndarray  # (N, 80)
    angles: np.ndarray  # (N, 3) radians (pitch, yaw, roll as Deep3DFaceRecon)
    lighting: np.ndarray  # (N, 27)
    translation: np.ndarray  # (N, 3)
    transform_params: np.ndarray  # (N, 5) [w0, h0, s, tx, ty]

    def __post_init__(self) -> None:
        widths = {name: s.stop - s.start for name, s in COEFF_SLICES.items()}
        widths["transform_params"] = TRANSFORM_DIM
        n_frames = None
        for name, width in widths.items():
            arr = np.asarray(getattr(self, name), dtype=np.float32)
            if arr.ndim != 2 or arr.shape[1] != width:
                raise Mat3DMMError(f"Coeffs3DMM.{name}: expected shape (N, {width}), got {arr.shape}")
            if n_frames is None:
                n_frames = arr.shape[0]
            elif arr.shape[0] != n_frames:
                raise Mat3DMMError(f"Coeffs3DMM.{name}: {arr.shape[0]} frames, but identity has {n_frames}")
            object.__setattr__(self, name, arr)  # frozen dataclass: store the float32 copy

    @property
    def n_frames(self) -> int:
        return int(self.identity.shape[0])

    def coeff(self) -> np.ndarray:
        """The (N, 257) ``coeff`` matrix in file order."""
        return np.concatenate([getattr(self, name) for name in COEFF_SLICES], axis=1)

    def pose6(self) -> np.ndarray:
        """(N, 6): angles and translation (the head pose without the crop)."""
        return np.concatenate([self.angles, self.translation], axis=1)

    def pose9(self) -> np.ndarray:
        """(N, 9): PIRender's pose input, ``[angles, translation, transform_params[:, -3:]]``."""
        return np.concatenate([self.angles, self.translation, self.transform_params[:, -3:]], axis=1)

    def frames(self, start: int, stop: int) -> Coeffs3DMM:
        """The frames ``start:stop`` as a new object (e.g. to cut a clip to its video length)."""
        return Coeffs3DMM(**{name: getattr(self, name)[start:stop] for name in (*COEFF_SLICES, "transform_params")})

    @classmethod
    def from_coeff(cls, coeff: np.ndarray, transform_params: np.ndarray) -> Coeffs3DMM:
        """Split an (N, 257) ``coeff`` matrix; ``transform_params`` is (N, 5)."""
        coeff = np.asarray(coeff)
        if coeff.ndim != 2 or coeff.shape[1] != COEFF_DIM:
            raise Mat3DMMError(f"coeff: expected shape (N, {COEFF_DIM}), got {coeff.shape}")
        parts = {name: coeff[:, s] for name, s in COEFF_SLICES.items()}
        return cls(**parts, transform_params=np.asarray(transform_params))

    @classmethod
    def from_expression_pose(
        cls,
        expression: np.ndarray,
        angles: np.ndarray,
        translation: np.ndarray,
        transform_params: np.ndarray | None = None,
        image_size: int = 256,
    ) -> Coeffs3DMM:
        """Coefficients with only expression and head pose set (identity, texture, lighting zero).

        This is what the talking-head models consume and produce. ``transform_params`` defaults to
        :func:`default_transform_params` for ``image_size`` (the embedded renderer's crop).
        """
        expression = np.asarray(expression, dtype=np.float32)
        if expression.ndim != 2:
            raise Mat3DMMError(f"expression: expected shape (N, 64), got {expression.shape}")
        n_frames = expression.shape[0]
        if transform_params is None:
            transform_params = default_transform_params(n_frames, image_size)
        return cls(
            identity=np.zeros((n_frames, 80), np.float32),
            expression=expression,
            texture=np.zeros((n_frames, 80), np.float32),
            angles=np.asarray(angles, dtype=np.float32),
            lighting=np.zeros((n_frames, 27), np.float32),
            translation=np.asarray(translation, dtype=np.float32),
            transform_params=np.asarray(transform_params, dtype=np.float32),
        )


def coeffs_from_performance(expression: np.ndarray, pose: np.ndarray, image_size: int) -> Coeffs3DMM:
    """Coefficients from an (N, 64) expression and an (N, 6) pose ``[angles, translation]``."""
    pose = np.asarray(pose, dtype=np.float32)
    if pose.ndim != 2 or pose.shape[1] != 6:
        raise Mat3DMMError(f"pose: expected shape (N, 6) [angles, translation], got {pose.shape}")
    return Coeffs3DMM.from_expression_pose(expression, pose[:, :3], pose[:, 3:], image_size=image_size)


def read_mat(path: str | Path) -> Coeffs3DMM:
    """Read a Deep3DFaceRecon ``.mat`` (keys ``coeff`` (N, 257), ``transform_params`` (N, 5)).

    Raises :class:`Mat3DMMNotFoundError` for a missing file and :class:`Mat3DMMError` (a ValueError)
    naming the file for anything else: not a MAT file, missing keys, wrong shapes, no frames,
    NaN/inf values.
    """
    path = Path(path)
    if not path.is_file():
        raise Mat3DMMNotFoundError(f"3DMM file {path} does not exist")
    try:
        contents = scipy.io.loadmat(str(path))
    except NotImplementedError as exc:  # scipy's answer to MATLAB v7.3 (HDF5) files
        raise Mat3DMMError(f"3DMM file {path}: MATLAB v7.3 (HDF5) files are not supported ({exc})") from exc
    except Exception as exc:  # scipy raises ValueError, TypeError, MatReadError... for non-MAT bytes
        raise Mat3DMMError(f"3DMM file {path} is not a readable MAT file: {exc}") from exc

    keys = sorted(k for k in contents if not k.startswith("__"))
    missing = [k for k in ("coeff", "transform_params") if k not in contents]
    if missing:
        raise Mat3DMMError(
            f"3DMM file {path}: missing key(s) {missing}; found {keys}. "
            "Expected Deep3DFaceRecon/PIRender output with 'coeff' (N x 257) and 'transform_params' (N x 5)"
        )
    coeff = np.asarray(contents["coeff"])
    transform_params = np.asarray(contents["transform_params"])
    for name, arr, width in (("coeff", coeff, COEFF_DIM), ("transform_params", transform_params, TRANSFORM_DIM)):
        if arr.ndim != 2 or arr.shape[1] != width:
            raise Mat3DMMError(f"3DMM file {path}: '{name}' has shape {arr.shape}, expected (N, {width})")
        if not np.issubdtype(arr.dtype, np.number):
            raise Mat3DMMError(f"3DMM file {path}: '{name}' has dtype {arr.dtype}, expected floating point")
    if coeff.shape[0] != transform_params.shape[0]:
        raise Mat3DMMError(
            f"3DMM file {path}: 'coeff' has {coeff.shape[0]} frames but 'transform_params' has "
            f"{transform_params.shape[0]}"
        )
    if coeff.shape[0] == 0:
        raise Mat3DMMError(f"3DMM file {path}: has no frames (N == 0)")
    for name, arr in (("coeff", coeff), ("transform_params", transform_params)):
        bad = ~np.isfinite(arr)
        if bad.any():
            frame = int(np.argwhere(bad)[0, 0])
            raise Mat3DMMError(
                f"3DMM file {path}: '{name}' has {int(bad.sum())} NaN/inf values (first at frame {frame})"
            )
    return Coeffs3DMM.from_coeff(coeff, transform_params)


def declared_expression_space(path: str | Path) -> str | None:
    """The ``expression_space`` a ``.mat`` declares (the embedded corpus writes one), or None.

    Deep3DFaceRecon and PIRender write no such key; the caller decides what an undeclared file holds.
    """
    path = Path(path)
    if not path.is_file():
        raise Mat3DMMNotFoundError(f"3DMM file {path} does not exist")
    try:
        contents = scipy.io.loadmat(str(path), variable_names=["expression_space"])
    except Exception as exc:
        raise Mat3DMMError(f"3DMM file {path} is not a readable MAT file: {exc}") from exc
    if "expression_space" not in contents:
        return None
    value = np.asarray(contents["expression_space"])
    if value.dtype.kind != "U" or value.size != 1:
        raise Mat3DMMError(f"3DMM file {path}: 'expression_space' must be one string, got {value.dtype} {value.shape}")
    return check_space(str(value.reshape(-1)[0]).strip(), f"3DMM file {path}")


def write_mat(path: str | Path, coeffs: Coeffs3DMM, expression_space: str | None = None) -> None:
    """Write ``coeffs`` as a Deep3DFaceRecon ``.mat`` (float32 ``coeff`` and ``transform_params``), atomically.

    ``expression_space`` adds the key that :func:`declared_expression_space` reads back.
    """
    if coeffs.n_frames == 0:
        raise Mat3DMMError(f"refusing to write {path}: no frames")
    coeff = coeffs.coeff()
    if not (np.isfinite(coeff).all() and np.isfinite(coeffs.transform_params).all()):
        raise Mat3DMMError(f"refusing to write {path}: coefficients contain NaN/inf")
    contents = {"coeff": coeff, "transform_params": coeffs.transform_params}
    if expression_space is not None:
        contents["expression_space"] = check_space(expression_space, f"writing {path}")
    with atomic_path(path) as tmp:
        scipy.io.savemat(str(tmp), contents)
