"""The 64-d expression vectors of the models, and the two *expression spaces* they can be in.

Every expression array in the project is (T, 64), and StyleTalk's split of the 64 indices into a
lower-face group (mouth, jaw; 13 dims) and an upper-face group (51 dims), each predicted by its own
decoder, applies to both spaces. What the 64 numbers *mean* depends on the space, and the two are
not interchangeable (measured on real MEAD fits vs the corpus: per-dimension spreads 0.43 vs 0.27,
uncorrelated across dimensions, r = -0.02):

- ``bfm``: BFM's 64 expression coefficients as Deep3DFaceRecon fits them (``coeff[:, 80:144]`` of
  its ``.mat`` files): PCA modes of 3D face scans, unnamed, in the fitter's units. Real MEAD / HDTF
  fits and the StyleTalk / DreamTalk samples are in this space.
- ``embedded``: the embedded corpus's own layout. Every index has a named, visible meaning in the
  synthetic face (``talkclip.corpus.face_model`` / ``renderer``; names below); mouth, jaw, lip and
  chin components sit at StyleTalk's lower-face indices, so that the two decoders see the same
  division of labour as on BFM. Left/right (``_l`` / ``_r``) always mean the *subject's*
  left/right, as in FACS (a subject's left side appears on the right of a frontal image). A
  coefficient of 1.0 is the full extent of the movement (about FACS intensity E); 0 is the neutral
  face. Most components are meaningful in 0..1; gaze and flush are signed.

A model trained in one space reads style clips and writes coefficients in that space only, so the
space is recorded with every processed dataset, checkpoint and generated output, and
:func:`require_same_space` refuses to mix them. Files written before the space was recorded carry
none; they are read as :data:`LEGACY_SPACE` with a warning (:func:`legacy_space`).
"""
from __future__ import annotations

import warnings

import numpy as np

EXPRESSION_DIM = 64

# StyleTalk's lower-face indices into BFM's 64 expression coefficients (13 dims).
LOWER_FACE_INDICES: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 7, 9, 10, 11, 12, 13, 14)
UPPER_FACE_INDICES: tuple[int, ...] = tuple(i for i in range(EXPRESSION_DIM) if i not in LOWER_FACE_INDICES)

# The 13 mouth/jaw/lip/chin components, placed at LOWER_FACE_INDICES in this order.
_LOWER_COMPONENTS: tuple[str, ...] = (
    "jaw_open",               # AU26/27: the jaw rotates down, chin and lower lip follow
    "lip_round",              # AU18/22: lips pucker and protrude (OO, W), mouth narrows
    "lip_press",              # AU24: lips pressed together and thinned; bilabial closure (P, B, M)
    "lower_lip_tuck",         # labiodental (F, V): lower lip raised under the upper teeth
    "lip_corner_pull_l",      # AU12 (left): zygomaticus major, corner up and out
    "lip_corner_pull_r",      # AU12 (right)
    "lip_corner_depress_l",   # AU15 (left): corner down
    "lip_corner_depress_r",   # AU15 (right)
    "lip_stretch_l",          # AU20 (left): corner pulled sideways; also the spread of IY/EH
    "lip_stretch_r",          # AU20 (right)
    "lips_part",              # AU25: lips apart with little jaw movement (teeth show)
    "chin_raise",             # AU17: mentalis pushes chin boss and lower lip up
    "upper_lip_raise",        # AU10: upper lip raised (disgust), teeth may show
)

# The 51 upper-face components (brows, lids, eyes, cheeks, nose, skin), filling the other slots.
_UPPER_COMPONENTS: tuple[str, ...] = (
    "brow_inner_raise_l", "brow_inner_raise_r",        # AU1
    "brow_outer_raise_l", "brow_outer_raise_r",        # AU2
    "brow_lower_l", "brow_lower_r",                    # AU4 (whole brow down)
    "brow_draw_together_l", "brow_draw_together_r",    # AU4 corrugator: inner brow medial and down
    "brow_arch_l", "brow_arch_r",                      # middle of the brow up (peaked brow)
    "brow_outer_lower_l", "brow_outer_lower_r",        # brow tail droops
    "forehead_furrow",                                 # horizontal forehead lines (frontalis)
    "glabella_furrow",                                 # vertical lines between the brows
    "upper_lid_raise_l", "upper_lid_raise_r",          # AU5: eyes widened
    "upper_lid_droop_l", "upper_lid_droop_r",          # AU41: upper lid lowered (tired, sad)
    "lower_lid_raise_l", "lower_lid_raise_r",          # lower lid up (part of AU6 / AU7)
    "lid_tighten_l", "lid_tighten_r",                  # AU7: both lids narrow the eye, lower lid straightens
    "lid_close_l", "lid_close_r",                      # AU43/45: eye closure, blinks
    "eye_tilt_l", "eye_tilt_r",                        # outer eye corner up (+) / down (-)
    "gaze_right",                                      # irises move to image right (+) / left (-)
    "gaze_up",                                         # irises move up (+) / down (-)
    "pupil_dilate",                                    # pupil size (+ larger, - smaller)
    "cheek_raise_l", "cheek_raise_r",                  # AU6: cheeks up, crow's feet, lower lid bulge
    "cheek_puff_l", "cheek_puff_r",                    # AU34: cheek contour out
    "cheek_suck_l", "cheek_suck_r",                    # AU35: cheek contour in
    "nasolabial_deepen_l", "nasolabial_deepen_r",      # AU11: deeper nasolabial fold
    "infraorbital_furrow_l", "infraorbital_furrow_r",  # crease under the eye
    "nose_wrinkle_l", "nose_wrinkle_r",                # AU9: nose wrinkler, nose wings up
    "nostril_flare_l", "nostril_flare_r",              # AU38: nostril dilator
    "nose_tip_down",                                   # depressor septi: nose tip pulled down
    "face_flush",                                      # skin colour: + redder (anger), - paler (fear)
    # Finer, smaller residual deformations of the upper face, like BFM's high-order modes
    # (each a fixed, smooth displacement pattern; visible but small).
    "upper_mode_1", "upper_mode_2", "upper_mode_3", "upper_mode_4",
    "upper_mode_5", "upper_mode_6",
)


def _build_components() -> tuple[str, ...]:
    if len(_LOWER_COMPONENTS) != len(LOWER_FACE_INDICES):
        raise AssertionError("lower-face component list does not match LOWER_FACE_INDICES")
    if len(_UPPER_COMPONENTS) != len(UPPER_FACE_INDICES):
        raise AssertionError(f"expected {len(UPPER_FACE_INDICES)} upper components, have {len(_UPPER_COMPONENTS)}")
    names: list[str] = [""] * EXPRESSION_DIM
    for idx, name in zip(LOWER_FACE_INDICES, _LOWER_COMPONENTS):
        names[idx] = name
    for idx, name in zip(UPPER_FACE_INDICES, _UPPER_COMPONENTS):
        names[idx] = name
    if len(set(names)) != EXPRESSION_DIM:
        raise AssertionError("expression component names are not unique")
    return tuple(names)


EXPRESSION_COMPONENTS: tuple[str, ...] = _build_components()
COMPONENT_INDEX: dict[str, int] = {name: i for i, name in enumerate(EXPRESSION_COMPONENTS)}
LOWER_FACE_COMPONENTS: tuple[str, ...] = tuple(EXPRESSION_COMPONENTS[i] for i in LOWER_FACE_INDICES)
UPPER_FACE_COMPONENTS: tuple[str, ...] = tuple(EXPRESSION_COMPONENTS[i] for i in UPPER_FACE_INDICES)


def component_index(name: str) -> int:
    """Index of a named component; ValueError listing the valid names otherwise."""
    try:
        return COMPONENT_INDEX[name]
    except KeyError:
        raise ValueError(f"unknown expression component {name!r}; expected one of {', '.join(EXPRESSION_COMPONENTS)}") from None


def check_expression(expression: np.ndarray, where: str = "expression") -> np.ndarray:
    """Validate a (T, 64) expression array and return it as float32 (2-d, finite)."""
    arr = np.asarray(expression)
    if arr.ndim != 2 or arr.shape[1] != EXPRESSION_DIM:
        raise ValueError(f"{where}: expected shape (T, {EXPRESSION_DIM}), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{where}: contains NaN or infinite values")
    return arr.astype(np.float32, copy=False)


def split_lower_upper(expression: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., 64) -> lower (..., 13), upper (..., 51) in StyleTalk's index order."""
    arr = np.asarray(expression)
    if arr.shape[-1] != EXPRESSION_DIM:
        raise ValueError(f"split_lower_upper: last axis must be {EXPRESSION_DIM}, got shape {arr.shape}")
    return arr[..., list(LOWER_FACE_INDICES)], arr[..., list(UPPER_FACE_INDICES)]


def merge_lower_upper(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Inverse of :func:`split_lower_upper`."""
    lower, upper = np.asarray(lower), np.asarray(upper)
    if lower.shape[-1] != len(LOWER_FACE_INDICES) or upper.shape[-1] != len(UPPER_FACE_INDICES):
        raise ValueError(f"merge_lower_upper: expected (..., 13) and (..., 51), got {lower.shape} and {upper.shape}")
    if lower.shape[:-1] != upper.shape[:-1]:
        raise ValueError(f"merge_lower_upper: leading shapes differ: {lower.shape[:-1]} vs {upper.shape[:-1]}")
    out = np.zeros(lower.shape[:-1] + (EXPRESSION_DIM,), dtype=np.result_type(lower, upper))
    out[..., list(LOWER_FACE_INDICES)] = lower
    out[..., list(UPPER_FACE_INDICES)] = upper
    return out


# --- expression spaces ------------------------------------------------------------------------------
EMBEDDED_SPACE = "embedded"
BFM_SPACE = "bfm"
EXPRESSION_SPACES: dict[str, str] = {
    EMBEDDED_SPACE: "the embedded corpus's named 64-d layout (talkclip.expression.EXPRESSION_COMPONENTS)",
    BFM_SPACE: "BFM's 64 expression coefficients as fitted by Deep3DFaceRecon (coeff[:, 80:144] of its .mat files)",
}
# Space of processed datasets and checkpoints written before the space was recorded: until then the
# default pipeline only ever trained on the embedded corpus.
LEGACY_SPACE = EMBEDDED_SPACE


class ExpressionSpaceError(ValueError):
    """Expression arrays of different spaces were combined, or a space name is unknown."""


def check_space(name: object, where: str) -> str:
    """``name`` if it is a known space; ExpressionSpaceError naming ``where`` otherwise."""
    if name not in EXPRESSION_SPACES:
        raise ExpressionSpaceError(
            f"{where}: unknown expression space {name!r}; expected one of {', '.join(EXPRESSION_SPACES)}"
        )
    return str(name)


def legacy_space(where: str) -> str:
    """The space assumed for ``where``, which records none (written before spaces were recorded)."""
    warnings.warn(
        f"{where} records no expression space (written before the space was recorded); assuming "
        f"{LEGACY_SPACE!r}. Re-run the step that wrote it to record the space explicitly.",
        UserWarning, stacklevel=3,
    )
    return LEGACY_SPACE


def require_same_space(expected: str, expected_source: str, found: str, found_source: str) -> None:
    """Refuse to combine expressions of two spaces; the error names both spaces and both sources.

    ``expected`` is the space of ``expected_source`` (e.g. a checkpoint) and ``found`` that of
    ``found_source`` (e.g. a style clip or a dataset).
    """
    check_space(expected, expected_source)
    check_space(found, found_source)
    if expected != found:
        raise ExpressionSpaceError(
            f"expression spaces differ: {found_source} is in the {found!r} space ({EXPRESSION_SPACES[found]}) "
            f"but {expected_source} is in the {expected!r} space ({EXPRESSION_SPACES[expected]}); the 64 numbers "
            f"mean different things in the two spaces, so they cannot be mixed (see docs/DESIGN.md, "
            f"'Expression spaces')"
        )
