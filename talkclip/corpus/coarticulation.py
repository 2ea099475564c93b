"""Visemes with coarticulation: timed phones -> lower-face expression coefficients.

Each phone has articulatory targets on the mouth components (jaw opening, lip rounding, bilabial
closure, labiodental tuck, lip spread, lip parting) and, per component, a *dominance*: how strongly
it imposes that target on its neighbours. The trajectory of a component is the dominance-weighted
average of all segment targets (Cohen & Massaro 1993, "Modeling coarticulation in synthetic visual
speech", in Models and Techniques in Computer Animation):

    D_s(t) = alpha_s * exp(-theta_s,dir * tau_s(t) ** c)
    F(t)   = sum_s D_s(t) * target_s / sum_s D_s(t)

with separate anticipatory (before the segment) and carry-over (after it) rates theta. One
extension, common in implementations of the model: ``tau`` is measured from the segment's central
plateau (the middle ``PLATEAU`` fraction of its span) rather than from its centre point, so that long
segments (pauses, held vowels) reach and hold their targets.

Consequences that the model is chosen for: bilabials (P, B, M) and labiodentals (F, V) dominate
the lips and always close/tuck them; velars and /h/ have low lip dominance and take the rounding
of the neighbouring vowel (anticipatory rounding in "stew"); silence returns to rest.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from talkclip.expression import COMPONENT_INDEX, EXPRESSION_DIM
from talkclip.phonemes import PHONE_TO_ID, PhoneInterval

# The articulatory parameters (in this order) and the expression components they drive.
PARAMS: tuple[str, ...] = ("jaw_open", "lip_round", "lip_press", "lower_lip_tuck", "lip_spread", "lips_part")
_PARAM_COMPONENTS: dict[str, tuple[str, ...]] = {
    "jaw_open": ("jaw_open",),
    "lip_round": ("lip_round",),
    "lip_press": ("lip_press",),
    "lower_lip_tuck": ("lower_lip_tuck",),
    "lip_spread": ("lip_stretch_l", "lip_stretch_r"),
    "lips_part": ("lips_part",),
}
# Components that open or shape the mouth scale with the speaker's articulation strength;
# closures (press, tuck) are obligatory and keep full strength.
_SCALED_BY_ARTICULATION = {"jaw_open", "lip_round", "lip_spread", "lips_part"}

PLATEAU = 0.6  # fraction of a segment's span over which its dominance is at its maximum
EXPONENT_C = 1.0  # Cohen & Massaro's c


@dataclass(frozen=True)
class Viseme:
    """Targets and dominances (alpha) per articulatory parameter; theta in 1/s."""

    targets: tuple[float, ...]
    alphas: tuple[float, ...]
    theta_anticipatory: float = 18.0
    theta_carryover: float = 22.0


def _viseme(jaw: float, rnd: float, press: float, tuck: float, spread: float, part: float,
            a_jaw: float, a_rnd: float, a_press: float, a_tuck: float, a_spread: float, a_part: float,
            theta_ant: float = 18.0, theta_carry: float = 22.0) -> Viseme:
    return Viseme((jaw, rnd, press, tuck, spread, part), (a_jaw, a_rnd, a_press, a_tuck, a_spread, a_part),
                  theta_ant, theta_carry)


# Targets: coefficient units (1 = full extent). Dominance alphas: ~0.1 "don't care" (takes the
# neighbours' value), ~1 ordinary, >= 5 obligatory. Lip rounding spreads early (low anticipatory
# theta on rounded phones), as observed in anticipatory rounding studies.
#                      jaw   rnd   press tuck  sprd  part   a_jaw a_rnd a_prs a_tck a_spr a_prt
_VOWELS: dict[str, Viseme] = {
    "AA": _viseme(0.80, 0.00, 0.0, 0.0, 0.05, 0.45, 2.0, 0.8, 3.0, 3.0, 0.6, 1.0),
    "AE": _viseme(0.62, 0.00, 0.0, 0.0, 0.35, 0.45, 2.0, 0.8, 3.0, 3.0, 0.9, 1.0),
    "AH": _viseme(0.50, 0.00, 0.0, 0.0, 0.10, 0.40, 1.5, 0.6, 3.0, 3.0, 0.5, 1.0),
    "AO": _viseme(0.62, 0.45, 0.0, 0.0, 0.00, 0.40, 2.0, 1.5, 3.0, 3.0, 0.6, 1.0, 12.0),
    "EH": _viseme(0.45, 0.00, 0.0, 0.0, 0.40, 0.40, 1.6, 0.8, 3.0, 3.0, 1.0, 1.0),
    "ER": _viseme(0.28, 0.35, 0.0, 0.0, 0.00, 0.30, 1.2, 1.2, 3.0, 3.0, 0.6, 1.0),
    "IH": _viseme(0.30, 0.00, 0.0, 0.0, 0.45, 0.35, 1.3, 0.8, 3.0, 3.0, 1.0, 1.0),
    "IY": _viseme(0.18, 0.00, 0.0, 0.0, 0.70, 0.35, 1.3, 1.0, 3.0, 3.0, 1.5, 1.0),
    "UH": _viseme(0.30, 0.55, 0.0, 0.0, 0.00, 0.30, 1.2, 1.5, 3.0, 3.0, 0.6, 1.0, 12.0),
    "UW": _viseme(0.20, 0.90, 0.0, 0.0, 0.00, 0.25, 1.2, 2.5, 3.0, 3.0, 1.0, 1.0, 9.0),
}
# Diphthongs: first half and second half targets (split into two sub-segments).
_DIPHTHONGS: dict[str, tuple[str, str]] = {
    "AW": ("AA", "UH"), "AY": ("AA", "IH"), "EY": ("EH", "IY"), "OW": ("AO", "UW"), "OY": ("AO", "IY"),
}
_CONSONANTS: dict[str, Viseme] = {
    # Bilabials: obligatory closure, jaw nearly closed, rounding from the neighbours.
    **{p: _viseme(0.02, 0.0, 1.0, 0.0, 0.0, 0.0, 4.0, 0.1, 8.0, 0.5, 0.2, 8.0, 28.0, 30.0) for p in ("P", "B", "M")},
    # Labiodentals: lower lip tucked under the upper teeth.
    **{p: _viseme(0.08, 0.0, 0.0, 1.0, 0.0, 0.1, 3.0, 0.2, 1.0, 8.0, 0.2, 4.0, 26.0, 28.0) for p in ("F", "V")},
    # Dentals: jaw slightly open, lips apart (tongue between teeth).
    **{p: _viseme(0.16, 0.0, 0.0, 0.0, 0.1, 0.40, 1.5, 0.2, 1.0, 1.0, 0.3, 1.5) for p in ("TH", "DH")},
    # Sibilants: teeth nearly together, lips parted and slightly spread.
    **{p: _viseme(0.05, 0.0, 0.0, 0.0, 0.30, 0.35, 3.0, 0.2, 1.0, 1.0, 0.5, 1.5) for p in ("S", "Z")},
    # Post-alveolars: protruded, rounded lips.
    **{p: _viseme(0.08, 0.60, 0.0, 0.0, 0.0, 0.35, 2.0, 3.0, 1.0, 1.0, 1.0, 1.5, 12.0) for p in ("SH", "ZH", "CH", "JH")},
    # Alveolars: low lip dominance, light jaw.
    **{p: _viseme(0.15, 0.0, 0.0, 0.0, 0.1, 0.30, 1.0, 0.15, 2.0, 2.0, 0.2, 0.8) for p in ("T", "D", "N")},
    "L": _viseme(0.25, 0.0, 0.0, 0.0, 0.1, 0.30, 1.0, 0.15, 1.0, 1.0, 0.2, 0.8),
    # Velars: tongue-back closure, lips free.
    **{p: _viseme(0.20, 0.0, 0.0, 0.0, 0.1, 0.30, 0.8, 0.1, 1.0, 1.0, 0.15, 0.6) for p in ("K", "G", "NG")},
    # /h/: no articulation of its own; takes the next vowel's shape.
    "HH": _viseme(0.35, 0.0, 0.0, 0.0, 0.1, 0.35, 0.25, 0.1, 1.0, 1.0, 0.1, 0.3),
    "R": _viseme(0.15, 0.45, 0.0, 0.0, 0.0, 0.30, 1.0, 2.0, 1.0, 1.0, 0.8, 0.8, 12.0),
    "W": _viseme(0.06, 1.00, 0.0, 0.0, 0.0, 0.15, 1.5, 5.0, 1.0, 1.0, 1.5, 1.0, 9.0),
    "Y": _viseme(0.10, 0.0, 0.0, 0.0, 0.40, 0.30, 1.0, 1.0, 1.0, 1.0, 1.2, 0.8),
}
# Silence and noise: rest pose (mouth closed, relaxed), moderately dominant.
_REST = _viseme(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.5, 1.5, 0.5, 1.5, 1.5, 1.5, 14.0, 14.0)
VISEMES: dict[str, Viseme] = {**_VOWELS, **_CONSONANTS, "SIL": _REST, "NSN": _REST}


def _check_tables() -> None:
    missing = [p for p in PHONE_TO_ID if p not in VISEMES and p not in _DIPHTHONGS]
    if missing:
        raise AssertionError(f"no viseme for phones {missing}")


_check_tables()


def _segments(phones: Sequence[PhoneInterval], duration: float) -> list[tuple[float, float, Viseme]]:
    """(start, end, viseme) segments: diphthongs split in two, gaps and the clip edges as silence."""
    segs: list[tuple[float, float, Viseme]] = []
    cursor = 0.0
    for ph in sorted(phones, key=lambda p: p.start):
        if ph.start > cursor + 1e-6:
            segs.append((cursor, ph.start, _REST))
        if ph.phone in _DIPHTHONGS:
            first, second = _DIPHTHONGS[ph.phone]
            mid = 0.5 * (ph.start + ph.end)
            segs.append((ph.start, mid, VISEMES[first]))
            segs.append((mid, ph.end, VISEMES[second]))
        else:
            segs.append((ph.start, ph.end, VISEMES[ph.phone]))
        cursor = max(cursor, ph.end)
    if duration > cursor + 1e-6:
        segs.append((cursor, duration, _REST))
    return segs


def articulatory_track(phones: Sequence[PhoneInterval], n_frames: int, fps: float,
                       articulation: float = 1.0) -> np.ndarray:
    """(T, len(PARAMS)) articulatory parameter trajectories at frame times ``i / fps``."""
    if n_frames < 0:
        raise ValueError(f"viseme_track: n_frames must be >= 0, got {n_frames}")
    if not fps > 0:
        raise ValueError(f"viseme_track: fps must be > 0, got {fps}")
    if not articulation >= 0:
        raise ValueError(f"viseme_track: articulation must be >= 0, got {articulation}")
    for ph in phones:
        if not isinstance(ph, PhoneInterval):
            raise ValueError(f"viseme_track: expected PhoneInterval items, got {type(ph).__name__}: {ph!r}")  # noqa: TRY004 (project rule: ValueError)
    times = np.arange(n_frames, dtype=np.float64) / fps
    duration = max(n_frames / fps, max((p.end for p in phones), default=0.0))
    segs = _segments(phones, duration)
    if not segs:
        return np.zeros((n_frames, len(PARAMS)), dtype=np.float64)

    starts = np.array([s for s, _, _ in segs])
    ends = np.array([e for _, e, _ in segs])
    centres = 0.5 * (starts + ends)
    half_plateau = 0.5 * PLATEAU * (ends - starts)
    targets = np.array([v.targets for _, _, v in segs])  # (S, P)
    alphas = np.array([v.alphas for _, _, v in segs])  # (S, P)
    theta_ant = np.array([v.theta_anticipatory for _, _, v in segs])
    theta_carry = np.array([v.theta_carryover for _, _, v in segs])

    # Signed distance of each frame from each segment's plateau (S, T): negative before it.
    offset = times[None, :] - centres[:, None]
    tau = np.maximum(np.abs(offset) - half_plateau[:, None], 0.0)
    theta = np.where(offset < 0, theta_ant[:, None], theta_carry[:, None])
    decay = np.exp(-theta * tau**EXPONENT_C)  # (S, T)
    dominance = alphas[:, None, :] * decay[:, :, None]  # (S, T, P)
    track = (dominance * targets[:, None, :]).sum(0) / np.maximum(dominance.sum(0), 1e-12)

    for j, name in enumerate(PARAMS):
        if name in _SCALED_BY_ARTICULATION:
            track[:, j] *= articulation
    return track


def viseme_track(phones: list[PhoneInterval], n_frames: int, fps: float, articulation: float = 1.0) -> np.ndarray:
    """Lower-face expression (T, 64) float32 for timed phones; all non-mouth components are 0.

    ``articulation`` scales the opening/shaping movements (jaw, rounding, spread, parting) of a
    hypo- (< 1) or hyper- (> 1) articulating speaker; closures for P/B/M and F/V stay complete.
    """
    track = articulatory_track(phones, n_frames, fps, articulation)
    expression = np.zeros((n_frames, EXPRESSION_DIM), dtype=np.float32)
    for j, name in enumerate(PARAMS):
        for component in _PARAM_COMPONENTS[name]:
            expression[:, COMPONENT_INDEX[component]] = track[:, j]
    return expression


def closure_amount(expression: np.ndarray) -> np.ndarray:
    """(T,) in 0..1: how much the lips are closed by articulation (press + tuck), from a viseme track."""
    expr = np.asarray(expression)
    return np.clip(expr[:, COMPONENT_INDEX["lip_press"]] + expr[:, COMPONENT_INDEX["lower_lip_tuck"]], 0.0, 1.0)
