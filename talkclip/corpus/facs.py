"""FACS action units, EMFACS emotion prototypes, and the linear map from AUs to expression coefficients.

The 12 annotated AUs are DISFA's (the set most AU-intensity estimators report, and the one the
TA-MEAD annotation describes). A few more AUs that the EMFACS prototypes need (lid tightener,
upper lip raiser, dimpler, lip tightener/pressor, ...) are *performed* by the embedded corpus but
not annotated, exactly as a real DISFA-style detector would miss them.

Emotion prototypes follow EMFACS (Friesen & Ekman 1983, "EMFACS-7: Emotional Facial Action Coding
System", unpublished manual, University of California San Francisco; as tabulated in Ekman,
Friesen & Hager 2002, FACS Investigator's Guide, and in Matsumoto & Ekman's prototype tables):

- happiness: 6 + 12
- sadness:   1 + 4 + 15 (often + 17, + 41 lid droop)
- surprise:  1 + 2 + 5B + 26
- fear:      1 + 2 + 4 + 5 + 7 + 20 + 26
- anger:     4 + 5 + 7 + 23 (often + 17 + 24)
- disgust:   9 + 15 + 16 (or 10 + 17; 9 often with 4 and 6)
- contempt:  R12A + R14A (unilateral)

Intensities are on FACS's A..E scale mapped to 1..5 (0 = absent) and describe the *strong*
(MEAD level 3) display; levels 1 and 2 scale them down (``LEVEL_SCALE``).
"""
from __future__ import annotations

import numpy as np

from talkclip.expression import COMPONENT_INDEX, EXPRESSION_DIM

# DISFA's 12 action units (the annotated set), in the order of every ``au`` array in the project.
AU_NAMES: tuple[str, ...] = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU9", "AU12", "AU15", "AU17", "AU20", "AU25", "AU26")
# AUs the performances also use but that are not annotated (not in DISFA).
EXTRA_AU_NAMES: tuple[str, ...] = ("AU7", "AU10", "AU11", "AU14", "AU23", "AU24", "AU41")
ALL_AU_NAMES: tuple[str, ...] = AU_NAMES + EXTRA_AU_NAMES
AU_INDEX: dict[str, int] = {name: i for i, name in enumerate(ALL_AU_NAMES)}
N_AUS = len(AU_NAMES)  # 12
N_ALL_AUS = len(ALL_AU_NAMES)  # 19

AU_FULL_NAMES: dict[str, str] = {
    "AU1": "Inner Brow Raiser",
    "AU2": "Outer Brow Raiser",
    "AU4": "Brow Lowerer",
    "AU5": "Upper Lid Raiser",
    "AU6": "Cheek Raiser",
    "AU7": "Lid Tightener",
    "AU9": "Nose Wrinkler",
    "AU10": "Upper Lip Raiser",
    "AU11": "Nasolabial Deepener",
    "AU12": "Lip Corner Puller",
    "AU14": "Dimpler",
    "AU15": "Lip Corner Depressor",
    "AU17": "Chin Raiser",
    "AU20": "Lip Stretcher",
    "AU23": "Lip Tightener",
    "AU24": "Lip Pressor",
    "AU25": "Lips Part",
    "AU26": "Jaw Drop",
    "AU41": "Lid Droop",
}

AU_MAX_INTENSITY = 5.0

# MEAD's eight emotions (its folder names).
EMOTIONS: tuple[str, ...] = ("angry", "contempt", "disgusted", "fear", "happy", "neutral", "sad", "surprised")
LEVELS: tuple[int, ...] = (1, 2, 3)
# MEAD's levels are weak / medium / strong; the prototypes describe "strong".
LEVEL_SCALE: dict[int, float] = {1: 0.45, 2: 0.72, 3: 1.0}

# EMFACS prototypes at the strong level, intensity 0..5. A float is bilateral; a (left, right)
# pair is a per-side intensity (subject's left / right). Values beyond the core EMFACS AUs are
# the frequent companions listed in the module docstring; they make the displays richer without
# changing which emotion they read as.
EMOTION_PROTOTYPES: dict[str, dict[str, float | tuple[float, float]]] = {
    "angry": {"AU4": 4.2, "AU5": 1.6, "AU7": 3.5, "AU23": 2.5, "AU24": 2.5, "AU17": 1.5, "AU9": 0.8},
    # R12A + R14A: one-sided (subject's right), low intensity by definition; A..B on our scale
    # so that it stays visible at weaker levels.
    "contempt": {"AU12": (0.0, 3.0), "AU14": (0.0, 3.5), "AU2": (0.0, 0.8)},
    "disgusted": {"AU9": 4.0, "AU10": 3.5, "AU4": 2.0, "AU6": 1.0, "AU15": 2.0, "AU17": 2.0, "AU25": 1.0},
    "fear": {"AU1": 4.0, "AU2": 3.0, "AU4": 2.5, "AU5": 4.2, "AU7": 1.0, "AU20": 4.0, "AU25": 2.5, "AU26": 1.5},
    "happy": {"AU6": 3.8, "AU12": 4.3, "AU25": 1.5},
    "neutral": {},
    "sad": {"AU1": 4.0, "AU4": 2.5, "AU15": 3.8, "AU17": 2.0, "AU41": 2.5, "AU11": 1.0},
    "surprised": {"AU1": 4.2, "AU2": 4.2, "AU5": 4.0, "AU25": 3.0, "AU26": 4.0},
}


def check_emotion_level(emotion: str, level: int) -> None:
    if emotion not in EMOTIONS:
        raise ValueError(f"unknown emotion {emotion!r}; expected one of {', '.join(EMOTIONS)}")
    if level not in LEVELS:
        raise ValueError(f"emotion level {level!r}; expected one of {LEVELS}")


def emotion_prototype(emotion: str, level: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-side AU intensities (left (19,), right (19,)) in ``ALL_AU_NAMES`` order, level-scaled."""
    check_emotion_level(emotion, level)
    left = np.zeros(N_ALL_AUS, dtype=np.float64)
    right = np.zeros(N_ALL_AUS, dtype=np.float64)
    for au, value in EMOTION_PROTOTYPES[emotion].items():
        l_val, r_val = value if isinstance(value, tuple) else (value, value)
        left[AU_INDEX[au]] = l_val
        right[AU_INDEX[au]] = r_val
    scale = LEVEL_SCALE[level]
    return left * scale, right * scale


def annotated_aus(au_left: np.ndarray, au_right: np.ndarray | None = None) -> np.ndarray:
    """The 12 DISFA intensities from per-side intensities over ``ALL_AU_NAMES`` (..., 19).

    A unilateral AU is coded at the intensity of its stronger side (as FACS codes R12B as "12B").
    """
    au_left = np.asarray(au_left)
    au_right = au_left if au_right is None else np.asarray(au_right)
    both = np.maximum(au_left[..., :N_AUS], au_right[..., :N_AUS])
    return np.clip(both, 0.0, AU_MAX_INTENSITY)


# ---------------------------------------------------------------------------------------------
# AU -> expression coefficients.
#
# Each AU on each side adds a fixed combination of the named components per unit of
# (intensity / 5). Left-side AUs drive ``*_l`` components, right-side AUs ``*_r``; bilateral
# components (jaw_open, lip_press, forehead_furrow, ...) take half from each side, so a
# symmetric AU at intensity 5 gives them their full listed weight.
# ---------------------------------------------------------------------------------------------
_SIDED = "{side}"
_AU_COMPONENT_WEIGHTS: dict[str, dict[str, float]] = {
    "AU1": {"brow_inner_raise_{side}": 1.0, "forehead_furrow": 0.35},
    "AU2": {"brow_outer_raise_{side}": 1.0, "brow_arch_{side}": 0.35, "forehead_furrow": 0.3},
    "AU4": {"brow_lower_{side}": 0.75, "brow_draw_together_{side}": 1.0, "glabella_furrow": 0.6, "upper_lid_droop_{side}": 0.1},
    "AU5": {"upper_lid_raise_{side}": 1.0},
    "AU6": {"cheek_raise_{side}": 1.0, "lower_lid_raise_{side}": 0.55, "infraorbital_furrow_{side}": 0.6,
            "brow_outer_lower_{side}": 0.2},
    "AU7": {"lid_tighten_{side}": 1.0, "lower_lid_raise_{side}": 0.3},
    "AU9": {"nose_wrinkle_{side}": 1.0, "upper_lip_raise": 0.35, "brow_lower_{side}": 0.3, "cheek_raise_{side}": 0.2,
            "nostril_flare_{side}": 0.3},
    "AU10": {"upper_lip_raise": 0.9, "nasolabial_deepen_{side}": 0.6, "nostril_flare_{side}": 0.2},
    "AU11": {"nasolabial_deepen_{side}": 1.0},
    "AU12": {"lip_corner_pull_{side}": 1.0, "cheek_raise_{side}": 0.15, "nasolabial_deepen_{side}": 0.45},
    "AU14": {"lip_corner_pull_{side}": 0.5, "lip_stretch_{side}": 0.25, "lip_press": 0.15, "nasolabial_deepen_{side}": 0.5},
    "AU15": {"lip_corner_depress_{side}": 1.0},
    "AU17": {"chin_raise": 1.0},
    "AU20": {"lip_stretch_{side}": 1.0},
    "AU23": {"lip_press": 0.55, "lip_round": 0.1},
    "AU24": {"lip_press": 1.0},
    "AU25": {"lips_part": 1.0},
    "AU26": {"jaw_open": 0.7, "lips_part": 0.2},
    "AU41": {"upper_lid_droop_{side}": 1.0},
}


def _side_matrix(side: str) -> np.ndarray:
    """(19, 64) matrix: expression added per unit of (intensity / 5) of each AU on one side."""
    mat = np.zeros((N_ALL_AUS, EXPRESSION_DIM), dtype=np.float64)
    for au, weights in _AU_COMPONENT_WEIGHTS.items():
        for template, w in weights.items():
            if _SIDED in template:
                mat[AU_INDEX[au], COMPONENT_INDEX[template.format(side=side)]] += w
            else:  # bilateral component: each side contributes half
                mat[AU_INDEX[au], COMPONENT_INDEX[template]] += 0.5 * w
    return mat / AU_MAX_INTENSITY


AU_TO_EXPRESSION_LEFT: np.ndarray = _side_matrix("l")
AU_TO_EXPRESSION_RIGHT: np.ndarray = _side_matrix("r")


def au_to_expression(au: np.ndarray, au_right: np.ndarray | None = None) -> np.ndarray:
    """Linear map from AU intensities (0..5) to the 64 expression coefficients.

    ``au`` is (T, 12) in ``AU_NAMES`` order or (T, 19) in ``ALL_AU_NAMES`` order. Without
    ``au_right`` the AUs are bilateral (both sides at ``au``); with it, ``au`` is the subject's
    left side and ``au_right`` the right side (same shape). Returns (T, 64) float32:
    ``au_left @ AU_TO_EXPRESSION_LEFT + au_right @ AU_TO_EXPRESSION_RIGHT`` (rows restricted to the
    given AUs).
    """
    au_left = np.asarray(au, dtype=np.float64)
    if au_left.ndim != 2 or au_left.shape[1] not in (N_AUS, N_ALL_AUS):
        raise ValueError(f"au_to_expression: expected au of shape (T, {N_AUS}) or (T, {N_ALL_AUS}), got {au_left.shape}")
    au_r = au_left if au_right is None else np.asarray(au_right, dtype=np.float64)
    if au_r.shape != au_left.shape:
        raise ValueError(f"au_to_expression: au_right shape {au_r.shape} differs from au shape {au_left.shape}")
    n = au_left.shape[1]
    out = au_left @ AU_TO_EXPRESSION_LEFT[:n] + au_r @ AU_TO_EXPRESSION_RIGHT[:n]
    return out.astype(np.float32)
