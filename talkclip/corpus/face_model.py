"""A parametric 3D face: the 68 iBUG landmarks (plus drawing points) from identity and expression.

Coordinates are *face units*: x to the image right (the subject's left), y up, z towards the
camera; the eye line is y = 0 and the eyes are about 0.95 units apart. The 68 landmarks follow the
iBUG / 300-W order that dlib and the LMD metric use: jaw 0-16 (from the subject's right ear, round
the chin), brows 17-26 (upper edge, subject's right brow first), nose 27-35, eyes 36-47 (subject's
right eye first, each from the outer corner over the upper lid), outer lips 48-59, inner lips 60-67.

Expression is linear, like a blendshape / 3DMM model: ``points = neutral + expression @ basis``, where
each of the 64 components (``talkclip.expression``) has a displacement field built from the
identity's own proportions (a wide mouth moves its corners further). Two physical constraints are
applied afterwards: lids and lips cannot pass through each other (an eye closes onto its lower lid,
pressed lips meet). Points beyond the 68 landmarks (forehead, irises, lid creases, cheeks, ears,
teeth, hair) exist only for drawing; they are in ``FaceModel.groups``.

``project`` applies a head pose (Deep3DFaceRecon's angle order: pitch about x, yaw about y, roll
about z, ``R = Rz @ Ry @ Rx``; translation in face units) and a mild perspective camera, giving pixel
coordinates with pixel centres at integers (dlib's convention).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from talkclip.corpus.identity import Identity
from talkclip.expression import COMPONENT_INDEX, EXPRESSION_DIM, check_expression

N_LANDMARKS = 68
JAW = slice(0, 17)
BROW_R, BROW_L = slice(17, 22), slice(22, 27)
NOSE = slice(27, 36)
EYE_R, EYE_L = slice(36, 42), slice(42, 48)
OUTER_LIPS, INNER_LIPS = slice(48, 60), slice(60, 68)
MOUTH = slice(48, 68)

# Eye lid pairs (upper, lower) and inner lip pairs (upper, lower) that may not cross.
_LID_PAIRS = ((37, 41), (38, 40), (43, 47), (44, 46))
_INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))
_OUTER_INNER_UPPER = ((50, 61), (51, 62), (52, 63))
_OUTER_INNER_LOWER = ((58, 67), (57, 66), (56, 65))

# Camera: face units -> pixels. The eye line sits at 42% of the image height.
PIXELS_PER_UNIT = 0.245  # times image_size
EYE_LINE_ROW = 0.42  # times image_size
CAMERA_DISTANCE = 12.0  # face units; mild perspective
HEAD_PIVOT = np.array([0.0, -0.7, -0.6])  # rotation centre (upper neck), face units
POSE_DIM = 6

N_FOREHEAD = 9


def _side_sign(side: str) -> float:
    # Subject's left is image right (+x).
    return 1.0 if side == "l" else -1.0


@dataclass
class FaceModel:
    """Neutral points and expression basis of one identity (build once, evaluate many frames)."""

    identity: Identity
    neutral: np.ndarray  # (P, 3)
    basis: np.ndarray  # (64, P, 3)
    groups: dict[str, slice]

    @classmethod
    def build(cls, identity: Identity) -> FaceModel:
        neutral, groups = _neutral_points(identity)
        basis = _expression_basis(identity, neutral, groups)
        return cls(identity, neutral, basis, groups)

    @property
    def n_points(self) -> int:
        return self.neutral.shape[0]

    def points(self, expression: np.ndarray) -> np.ndarray:
        """(T, 64) expression -> (T, P, 3) points (landmarks first), with lid/lip contact applied."""
        expr = check_expression(expression).astype(np.float64)
        flat = expr @ self.basis.reshape(EXPRESSION_DIM, -1)
        pts = self.neutral[None] + flat.reshape(len(expr), self.n_points, 3)
        _apply_contacts(pts, self.identity)
        return pts


# ---------------------------------------------------------------------------------------------
# Neutral geometry.
# ---------------------------------------------------------------------------------------------

def _head_z(x: np.ndarray, half_width: float, front: float = 0.9) -> np.ndarray:
    """Depth of the face surface at horizontal position x (a rounded front)."""
    return front * np.sqrt(np.clip(1.0 - 0.85 * (x / (half_width * 1.05)) ** 2, 0.0, None))


def _neutral_points(idt: Identity) -> tuple[np.ndarray, dict[str, slice]]:
    a, depth, n_sq = idt.face_half_width, idt.jaw_depth, idt.jaw_squareness
    y0 = -0.05  # height of jaw points 0 and 16 (near the eye's outer corner height)
    lm = np.zeros((N_LANDMARKS, 3))

    # Jaw 0..16: lower half of a super-ellipse from the subject's right (x < 0) round the chin.
    phi = np.linspace(0.0, np.pi, 17)
    c, s = np.cos(phi), np.sin(phi)
    lm[JAW, 0] = -np.sign(c) * np.abs(c) ** (2.0 / n_sq) * a
    lm[JAW, 1] = y0 - np.abs(s) ** (2.0 / n_sq) * (depth + y0)
    lm[JAW, 2] = 0.15 + 0.65 * s**1.5

    # Brows (upper edge): outer end to inner end, peak about a third in from the tail.
    es, ew, eo = idt.eye_half_spacing, idt.eye_width, idt.eye_opening
    u = np.linspace(0.0, 1.0, 5)  # 0 outer, 1 inner
    brow_x = (es + ew * 0.78) - u * (ew * 0.78 + ew * 0.58)
    brow_y = idt.brow_height + idt.brow_arch * np.sin(np.pi * np.clip(u, 1e-6, 1) ** 0.63) - 0.035 * (1 - u)
    lm[BROW_R, 0], lm[BROW_R, 1] = -brow_x, brow_y
    lm[BROW_L, 0], lm[BROW_L, 1] = brow_x[::-1], brow_y[::-1]
    lm[17:27, 2] = _head_z(lm[17:27, 0], a, 0.98)

    # Nose: bridge 27-30 down to the tip, base 31-35 from the subject's right wing.
    nl, nw = idt.nose_length, idt.nose_half_width
    lm[27:31, 1] = [0.0, -0.26 * nl, -0.52 * nl, -0.78 * nl]
    lm[27:31, 2] = [0.95, 1.07, 1.19, 1.32]
    lm[31:36, 0] = np.array([-1.0, -0.5, 0.0, 0.5, 1.0]) * nw
    lm[31:36, 1] = -nl * np.array([0.93, 0.99, 1.02, 0.99, 0.93])
    lm[31:36, 2] = [1.02, 1.10, 1.14, 1.10, 1.02]

    # Eyes: outer corner, two upper-lid points, inner corner, two lower-lid points.
    def eye(sign: float) -> np.ndarray:
        ex = sign * es
        pts = np.array([
            [ex + sign * ew / 2, idt.eye_canthal_tilt],
            [ex + sign * ew / 6, 0.55 * eo],
            [ex - sign * ew / 6, 0.52 * eo],
            [ex - sign * ew / 2, 0.0],
            [ex - sign * ew / 6, -0.42 * eo],
            [ex + sign * ew / 6, -0.44 * eo],
        ])
        return pts

    lm[EYE_R, :2] = eye(-1.0)
    lm[EYE_L, :2] = eye(1.0)[[3, 2, 1, 0, 5, 4]]  # left eye starts at its inner corner (iBUG order)
    lm[36:48, 2] = _head_z(lm[36:48, 0], a, 0.92)

    # Mouth.
    my, mw, ut, lt = idt.mouth_height, idt.mouth_half_width, idt.upper_lip_thickness, idt.lower_lip_thickness
    outer = np.array([
        [-mw, 0.0], [-0.62 * mw, 0.75 * ut], [-0.28 * mw, 1.05 * ut], [0.0, 0.88 * ut],
        [0.28 * mw, 1.05 * ut], [0.62 * mw, 0.75 * ut], [mw, 0.0],
        [0.62 * mw, -0.78 * lt], [0.28 * mw, -1.0 * lt], [0.0, -1.03 * lt], [-0.28 * mw, -1.0 * lt], [-0.62 * mw, -0.78 * lt],
    ])
    inner = np.array([
        [-0.84 * mw, 0.0], [-0.35 * mw, 0.004], [0.0, 0.004], [0.35 * mw, 0.004], [0.84 * mw, 0.0],
        [0.35 * mw, -0.004], [0.0, -0.004], [-0.35 * mw, -0.004],
    ])
    lm[OUTER_LIPS, :2] = outer + [0.0, -my]
    lm[INNER_LIPS, :2] = inner + [0.0, -my]
    lm[48:68, 2] = 1.0 - 0.9 * lm[48:68, 0] ** 2

    extra: list[tuple[str, np.ndarray]] = []
    # Forehead arc between jaw points 0 and 16 over the top of the face (the face oval's top).
    psi = np.linspace(0.0, np.pi, N_FOREHEAD + 2)[1:-1]
    fh = idt.forehead_height
    forehead = np.stack([-np.cos(psi) * a * 0.99, y0 + np.sin(psi) ** 0.8 * (fh - y0), 0.25 + 0.5 * np.sin(psi)], 1)
    extra.append(("forehead", forehead))
    iris_y = 0.05 * eo
    extra.append(("iris", np.array([[-es, iris_y, 0.95], [es, iris_y, 0.95]])))
    for name, eye_slice in (("crease_r", EYE_R), ("crease_l", EYE_L)):
        e = lm[eye_slice]
        # Above the upper lid (points 1, 2 of the eye) and the outer corner, following its arc.
        up = e[[0, 1, 2, 3]] if name == "crease_r" else e[[3, 2, 1, 0]]
        crease = np.stack([
            0.5 * (up[0] + up[1]) + [0, 0.42 * eo, 0],
            0.5 * (up[1] + up[2]) + [0, 0.50 * eo, 0],
            0.5 * (up[2] + up[3]) + [0, 0.38 * eo, 0],
        ])
        extra.append((name, crease))
    extra.append(("cheek", np.array([[-(es + 0.08), -0.52, 0.8], [es + 0.08, -0.52, 0.8]])))
    extra.append(("ala", np.array([[-1.12 * nw, -0.80 * nl, 1.0], [1.12 * nw, -0.80 * nl, 1.0]])))
    extra.append(("nasolabial", np.array([[-(mw + 0.08), -my - 0.10, 0.85], [mw + 0.08, -my - 0.10, 0.85]])))
    chin_y = y0 - (depth + y0)
    extra.append(("chin", np.array([[0.0, chin_y + 0.2, 0.95]])))
    ear_x = a * 0.985
    ear = idt.ear_size
    extra.append(("ear", np.array([
        [-ear_x, 0.12 * ear, -0.2], [-ear_x * 0.98, -0.50 * ear, -0.15],
        [ear_x, 0.12 * ear, -0.2], [ear_x * 0.98, -0.50 * ear, -0.15],
    ])))
    # Incisal edges: the upper one is fixed to the skull, the lower one moves with the jaw.
    tw = 0.78 * mw
    extra.append(("teeth_upper", np.array([[-tw, -my + 0.02, 0.85], [0.0, -my - 0.025, 0.95], [tw, -my + 0.02, 0.85]])))
    extra.append(("teeth_lower", np.array([[-tw, -my - 0.02, 0.85], [0.0, -my - 0.05, 0.92], [tw, -my - 0.02, 0.85]])))
    front, back = _hair_points(idt, forehead, lm)
    extra.append(("hair_front", front))
    extra.append(("hair_back", back))

    groups: dict[str, slice] = {"landmarks": slice(0, N_LANDMARKS)}
    start = N_LANDMARKS
    for name, pts in extra:
        groups[name] = slice(start, start + len(pts))
        start += len(pts)
    points = np.concatenate([lm] + [p for _, p in extra], axis=0)
    return points, groups


def _hair_points(idt: Identity, forehead: np.ndarray, lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Polygons of the hair in front of the face (cap / fringe) and behind the head."""
    a, fh, vol, style = idt.face_half_width, idt.forehead_height, idt.hair_volume, idt.hair_style
    # Skull outline from the subject's right temple over the top to the left temple.
    psi = np.linspace(0.0, np.pi, 15)
    skull_w = a * 1.04 + vol
    skull_h = fh + 0.32 + vol * 1.3
    top_y0 = -0.05
    skull = np.stack([-np.cos(psi) * skull_w, top_y0 + np.sin(psi) * (skull_h - top_y0), 0.1 + 0.2 * np.sin(psi)], 1)
    # Hairline: the forehead arc, lowered for fringes, with the sides down at the temples.
    hair_line = forehead.copy()
    x_norm = hair_line[:, 0] / a
    if style == "crop":
        hair_line[:, 1] += 0.06 - 0.05 * x_norm**2
    elif style in ("side_part", "long"):
        # A sweep: the fringe hangs lower on the side opposite the parting.
        hair_line[:, 1] -= 0.10 + 0.16 * np.clip(-idt.hair_part * x_norm, 0, 1)
    elif style == "bob":
        hair_line[:, 1] -= 0.32 - 0.12 * x_norm**2  # straight bangs
    elif style == "bun":
        hair_line[:, 1] += 0.02
    side_drop = {"short": 0.35, "crop": 0.25, "side_part": 0.4, "bob": 0.9, "long": 1.1, "bun": 0.3}[style]
    # Sideburns / side hair: from the temples down along the face edge.
    right_side = np.array([[-a * 1.02, -side_drop, 0.05], [-a * 0.93, -0.05, 0.2]])
    left_side = np.array([[a * 0.93, -0.05, 0.2], [a * 1.02, -side_drop, 0.05]])
    outer_right = np.array([[-skull_w * 1.02, -side_drop, 0.0]])
    outer_left = np.array([[skull_w * 1.02, -side_drop, 0.0]])
    front = np.concatenate([outer_right, skull, outer_left, left_side, hair_line[::-1], right_side], axis=0)

    depth = idt.jaw_depth
    if style == "long":
        bottom = -depth - 1.2
        back = np.array([
            [-skull_w * 1.05, 0.3, -0.3], [-skull_w * 1.12, -depth * 0.6, -0.3], [-skull_w * 1.2, bottom, -0.3],
            [skull_w * 1.2, bottom, -0.3], [skull_w * 1.12, -depth * 0.6, -0.3], [skull_w * 1.05, 0.3, -0.3],
        ])
    elif style == "bob":
        bottom = -depth * 0.72
        back = np.array([
            [-skull_w * 1.05, 0.3, -0.3], [-skull_w * 1.1, bottom + 0.3, -0.3], [-skull_w * 0.95, bottom, -0.3],
            [skull_w * 0.95, bottom, -0.3], [skull_w * 1.1, bottom + 0.3, -0.3], [skull_w * 1.05, 0.3, -0.3],
        ])
    elif style == "bun":
        # A bun on top of the head: a small polygon circle above the skull.
        t = np.linspace(0, 2 * np.pi, 10, endpoint=False)
        r = 0.32 + vol
        back = np.stack([np.cos(t) * r, skull_h + 0.1 + np.sin(t) * r * 0.85, np.full_like(t, -0.2)], 1)
    else:
        back = np.zeros((0, 3))
    return front, back


# ---------------------------------------------------------------------------------------------
# Expression basis.
# ---------------------------------------------------------------------------------------------

def _expression_basis(idt: Identity, neutral: np.ndarray, g: dict[str, slice]) -> np.ndarray:
    P = neutral.shape[0]
    basis = np.zeros((EXPRESSION_DIM, P, 3))
    eo, ut, lt = idt.eye_opening, idt.upper_lip_thickness, idt.lower_lip_thickness
    x = neutral[:, 0]

    def at(name: str) -> np.ndarray:
        return basis[COMPONENT_INDEX[name]]

    def idx(name: str) -> np.ndarray:
        return np.arange(P)[g[name]]

    upper_outer, lower_outer = np.arange(49, 54), np.array([55, 56, 57, 58, 59])
    upper_inner, lower_inner = np.array([61, 62, 63]), np.array([65, 66, 67])
    corners_outer, corners_inner = np.array([48, 54]), np.array([60, 64])
    jaw_y = neutral[JAW, 1]
    tmj_y, chin_y = -0.25, jaw_y.min()
    jaw_w = np.clip((tmj_y - jaw_y) / (tmj_y - chin_y), 0.0, 1.0) ** 1.2

    # --- lower face -----------------------------------------------------------------------------
    b = at("jaw_open")  # full opening drops the chin by ~0.42 units
    J = 0.42
    b[JAW, 1] = -J * jaw_w
    b[JAW, 2] = -0.12 * J * jaw_w
    b[lower_outer, 1] = -J * 0.88
    b[lower_inner, 1] = -J * 0.86
    b[corners_outer, 1] = -J * 0.30
    b[corners_inner, 1] = -J * 0.32
    b[corners_outer, 0] = -np.sign(x[corners_outer]) * 0.04 * J
    b[upper_outer, 1] = -0.03 * J
    b[upper_inner, 1] = -0.02 * J
    b[idx("chin"), 1] = -J * 0.95
    b[idx("nasolabial"), 1] = -J * 0.35
    b[idx("teeth_lower"), 1] = -J * 0.88
    b[idx("teeth_lower"), 2] = -0.1 * J

    b = at("lip_round")  # mouth narrows towards 60% width and protrudes; a small "O" opens
    mouth = np.arange(48, 68)
    b[mouth, 0] = -0.42 * x[mouth]
    b[mouth, 2] = 0.15
    b[upper_inner, 1] += 0.03
    b[lower_inner, 1] -= 0.035
    b[upper_outer, 1] += 0.02
    b[lower_outer, 1] -= 0.02
    b[idx("nasolabial"), 0] = -0.1 * x[idx("nasolabial")]

    b = at("lip_press")  # lips meet (contact clamp) and thin; mouth slightly narrower
    b[upper_inner, 1] = -0.14
    b[lower_inner, 1] = 0.14
    b[upper_outer, 1] = -0.55 * ut
    b[lower_outer, 1] = 0.55 * lt
    b[corners_outer, 0] = -np.sign(x[corners_outer]) * 0.03
    b[corners_inner, 0] = -np.sign(x[corners_inner]) * 0.03
    b[idx("chin"), 1] = 0.02

    b = at("lower_lip_tuck")  # F/V: lower lip up and back under the upper teeth
    b[lower_outer, 1] = lt * 0.55 + 0.06
    b[lower_outer, 2] = -0.1
    b[lower_inner, 1] = 0.14
    b[upper_inner, 1] = 0.03
    b[upper_outer, 1] = 0.02
    b[idx("chin"), 1] = 0.03

    for side in ("l", "r"):
        sgn = _side_sign(side)
        corner_o, corner_i = (54, 64) if side == "l" else (48, 60)
        near_upper, near_lower = (53, 55) if side == "l" else (49, 59)
        near_inner = (63, 65) if side == "l" else (61, 67)
        mid_upper, mid_lower = (52, 56) if side == "l" else (50, 58)
        nasolabial = idx("nasolabial")[1 if side == "l" else 0]
        cheek = idx("cheek")[1 if side == "l" else 0]
        jaw_side = np.arange(10, 16) if side == "l" else np.arange(1, 7)

        b = at(f"lip_corner_pull_{side}")  # AU12: up and out along the zygomaticus
        for p, w in ((corner_o, 1.0), (corner_i, 0.95), (near_upper, 0.55), (near_lower, 0.6), (near_inner[0], 0.5),
                     (near_inner[1], 0.5), (mid_upper, 0.25), (mid_lower, 0.3)):
            b[p] = [sgn * 0.10 * w, 0.13 * w, -0.03 * w]
        b[nasolabial] = [sgn * 0.05, 0.08, 0.0]
        b[cheek, 1] = 0.04
        b[jaw_side, 0] = sgn * 0.02

        b = at(f"lip_corner_depress_{side}")  # AU15: corner down
        for p, w in ((corner_o, 1.0), (corner_i, 0.9), (near_upper, 0.45), (near_lower, 0.55), (near_inner[0], 0.4),
                     (near_inner[1], 0.45), (mid_lower, 0.2)):
            b[p] = [sgn * 0.015 * w, -0.13 * w, 0.0]
        b[nasolabial, 1] = -0.05

        b = at(f"lip_stretch_{side}")  # AU20: corner sideways, lips flatten
        for p, w in ((corner_o, 1.0), (corner_i, 1.0), (near_upper, 0.6), (near_lower, 0.6), (near_inner[0], 0.55),
                     (near_inner[1], 0.55), (mid_upper, 0.3), (mid_lower, 0.3)):
            b[p] = [sgn * 0.13 * w, -0.015 * w, -0.02 * w]
        b[near_upper, 1] -= 0.15 * ut
        b[near_lower, 1] += 0.15 * lt
        b[nasolabial, 0] = sgn * 0.06

    b = at("lips_part")  # AU25: lips separate with little jaw motion
    b[upper_inner, 1] = 0.035
    b[lower_inner, 1] = -0.08
    b[upper_outer, 1] = 0.015
    b[lower_outer, 1] = -0.06
    b[idx("chin"), 1] = -0.02
    b[[7, 8, 9], 1] = -0.02
    b[idx("teeth_lower"), 1] = -0.03

    b = at("chin_raise")  # AU17: chin boss and lower lip pushed up; lip line bows
    b[[6, 7, 8, 9, 10], 1] = [0.02, 0.045, 0.055, 0.045, 0.02]
    b[[6, 7, 8, 9, 10], 2] = 0.04
    b[lower_outer, 1] = 0.06
    b[lower_outer, 2] = 0.05
    b[lower_inner, 1] = 0.04
    b[[57], 1] += 0.02
    b[corners_outer, 1] = -0.03
    b[corners_inner, 1] = -0.025
    b[idx("chin"), 1] = 0.07

    b = at("upper_lip_raise")  # AU10: upper lip lifts, exposing the upper teeth
    b[upper_outer, 1] = [0.06, 0.11, 0.09, 0.11, 0.06]
    b[upper_inner, 1] = [0.10, 0.09, 0.10]
    b[corners_inner, 1] = 0.02
    b[31:36, 1] = 0.015
    b[idx("nasolabial"), 1] = 0.05
    b[idx("ala"), 1] = 0.03

    # --- upper face -----------------------------------------------------------------------------
    for side in ("l", "r"):
        sgn = _side_sign(side)
        brow = np.arange(22, 27) if side == "l" else np.arange(21, 16, -1)  # inner -> outer
        eye = np.arange(42, 48) if side == "l" else np.array([39, 38, 37, 36, 41, 40])  # inner corner first
        e_inner, e_up1, e_up2, e_outer, e_low2, e_low1 = eye  # up1 nearer the nose
        crease = idx(f"crease_{side}")
        cheek = idx("cheek")[1 if side == "l" else 0]
        jaw_cheek = np.arange(12, 16) if side == "l" else np.arange(1, 5)
        jaw_lower = np.arange(10, 15) if side == "l" else np.arange(2, 7)
        ala = idx("ala")[1 if side == "l" else 0]
        nose_side = np.array([34, 35]) if side == "l" else np.array([32, 31])
        inner_to_outer = np.linspace(1.0, 0.0, 5)

        at(f"brow_inner_raise_{side}")[brow, 1] = 0.15 * (0.12 + 0.88 * inner_to_outer**1.3)
        at(f"brow_inner_raise_{side}")[brow, 0] = -sgn * 0.015 * inner_to_outer
        at(f"brow_outer_raise_{side}")[brow, 1] = 0.13 * (0.15 + 0.85 * (1 - inner_to_outer) ** 0.9)
        at(f"brow_outer_raise_{side}")[crease, 1] = 0.02
        b = at(f"brow_lower_{side}")
        b[brow, 1] = -0.10 * (0.6 + 0.4 * inner_to_outer)
        b[crease, 1] = -0.035
        b[[e_up1, e_up2], 1] = -0.01
        b = at(f"brow_draw_together_{side}")
        b[brow, 0] = -sgn * 0.08 * inner_to_outer**1.5
        b[brow, 1] = -0.07 * inner_to_outer**1.2
        b[crease, 1] = -0.015
        at(f"brow_arch_{side}")[brow, 1] = 0.09 * np.array([0.15, 0.55, 1.0, 0.6, 0.1])
        at(f"brow_outer_lower_{side}")[brow, 1] = -0.09 * np.array([0.0, 0.05, 0.2, 0.55, 1.0])

        b = at(f"upper_lid_raise_{side}")  # AU5: sclera shows above the iris
        b[[e_up1, e_up2], 1] = 0.55 * eo
        b[crease, 1] = 0.035
        b[brow, 1] = 0.012
        b = at(f"upper_lid_droop_{side}")  # AU41
        b[[e_up1, e_up2], 1] = -0.45 * eo
        b[crease, 1] = -0.02
        b = at(f"lower_lid_raise_{side}")
        b[[e_low1, e_low2], 1] = 0.32 * eo
        b[[e_inner, e_outer], 1] = 0.04 * eo
        b = at(f"lid_tighten_{side}")  # AU7: both lids narrow, lower lid straightens
        b[[e_low1, e_low2], 1] = 0.38 * eo
        b[[e_up1, e_up2], 1] = -0.2 * eo
        b[e_outer, 0] = -sgn * 0.015
        b[crease, 1] = -0.01
        b = at(f"lid_close_{side}")  # eye closes onto the lower lid (contact clamp stops it)
        b[[e_up1, e_up2], 1] = -1.1 * eo
        b[[e_low1, e_low2], 1] = 0.08 * eo
        b[crease, 1] = -0.06 * eo
        b = at(f"eye_tilt_{side}")
        b[e_outer, 1] = 0.05
        b[[e_up2, e_low2], 1] = 0.02
        b[brow[-1], 1] = 0.01

        b = at(f"cheek_raise_{side}")  # AU6: cheeks lift, lower lid bulges up, crow's feet
        b[cheek] = [sgn * 0.01, 0.11, 0.04]
        b[[e_low1, e_low2], 1] = 0.26 * eo
        b[e_outer, 1] = 0.015
        b[jaw_cheek, 0] = sgn * 0.02
        b[jaw_cheek, 1] = 0.03
        b[idx("nasolabial")[1 if side == "l" else 0], 1] = 0.03
        b[brow[-2:], 1] = -0.015
        b = at(f"cheek_puff_{side}")  # AU34
        b[jaw_lower, 0] = sgn * 0.09 * np.array([0.5, 0.9, 1.0, 0.8, 0.4])
        b[cheek, 0] = sgn * 0.05
        b[[54, 64] if side == "l" else [48, 60], 0] = -sgn * 0.02
        b = at(f"cheek_suck_{side}")  # AU35
        b[jaw_lower, 0] = -sgn * 0.07 * np.array([0.4, 0.8, 1.0, 0.8, 0.4])
        b[cheek, 0] = -sgn * 0.04
        b = at(f"nasolabial_deepen_{side}")  # AU11: fold deepens (drawn darker), corner lifts a little
        nl_pt = idx("nasolabial")[1 if side == "l" else 0]
        b[nl_pt] = [sgn * 0.015, 0.035, -0.02]
        b[[54, 64] if side == "l" else [48, 60], 1] = 0.012
        b = at(f"infraorbital_furrow_{side}")  # crease under the eye (drawn), lower lid up a little
        b[[e_low1, e_low2], 1] = 0.06 * eo
        b[cheek, 1] = 0.015
        b = at(f"nose_wrinkle_{side}")  # AU9: nose wing and side of the upper lip up
        b[[ala], 1] = 0.07
        b[nose_side, 1] = [0.045, 0.06]
        b[[28, 29], 1] = 0.012
        b[[29, 30], 1] += 0.01
        b[[52, 53] if side == "l" else [50, 49], 1] = 0.03
        b[brow[:2], 1] = [-0.03, -0.015]
        b = at(f"nostril_flare_{side}")  # AU38
        b[ala, 0] = sgn * 0.05
        b[nose_side, 0] = sgn * np.array([0.02, 0.04])

    b = at("forehead_furrow")  # frontalis tone: drawn lines, brows up a little
    b[17:27, 1] = 0.025
    b[idx("crease_r"), 1] = 0.01
    b[idx("crease_l"), 1] = 0.01
    b = at("glabella_furrow")  # drawn vertical lines; inner brows pinch slightly
    b[[21], 0], b[[22], 0] = 0.015, -0.015
    b[[20, 21, 22, 23], 1] = -0.012
    b = at("gaze_right")
    b[idx("iris"), 0] = 0.075
    b = at("gaze_up")
    b[idx("iris"), 1] = 0.05
    b[[37, 38, 43, 44], 1] = 0.15 * eo
    b[idx("crease_r"), 1] = 0.01
    b[idx("crease_l"), 1] = 0.01
    b = at("nose_tip_down")
    b[[30, 32, 33, 34], 1] = [-0.04, -0.02, -0.035, -0.02]
    b[[51], 1] = -0.01
    # pupil_dilate and face_flush are drawn only (no geometry); see renderer.

    # Residual modes: small smooth deformations of the upper face, like BFM's high-order modes.
    brows = np.arange(17, 27)
    eyes = np.arange(36, 48)
    upper_lids, lower_lids = np.array([37, 38, 43, 44]), np.array([40, 41, 46, 47])
    creases = np.concatenate([idx("crease_r"), idx("crease_l")])
    b = at("upper_mode_1")  # brows and lids up together (alert)
    b[brows, 1] = 0.04
    b[creases, 1] = 0.03
    b[upper_lids, 1] = 0.15 * eo
    b = at("upper_mode_2")  # oblique brow tilt (one side up, the other down)
    b[brows, 1] = 0.045 * x[brows] / 0.7
    b[creases, 1] = 0.015 * x[creases] / 0.7
    b = at("upper_mode_3")  # eyes and brows spread apart horizontally
    b[eyes, 0] = 0.025 * np.sign(x[eyes])
    b[brows, 0] = 0.03 * np.sign(x[brows])
    b[creases, 0] = 0.025 * np.sign(x[creases])
    b[idx("iris"), 0] = 0.025 * np.sign(x[idx("iris")])
    b = at("upper_mode_4")  # nose lengthens
    b[[29, 30], 1] = [-0.02, -0.04]
    b[31:36, 1] = -0.035
    b[idx("ala"), 1] = -0.03
    b = at("upper_mode_5")  # cheek fullness: the upper jaw contour widens
    for p in range(7):
        w = [0.6, 1.0, 1.0, 0.8, 0.5, 0.25, 0.1][p]
        b[p, 0] = -0.05 * w
        b[16 - p, 0] = 0.05 * w
    b[idx("cheek"), 0] = 0.03 * np.sign(x[idx("cheek")])
    b = at("upper_mode_6")  # squint-like vertical compression of the eye region
    b[brows, 1] = -0.03
    b[creases, 1] = -0.03
    b[upper_lids, 1] = -0.12 * eo
    b[lower_lids, 1] = 0.1 * eo
    b[idx("forehead"), 1] = -0.02
    return basis


def _apply_contacts(pts: np.ndarray, idt: Identity) -> None:
    """In place: lids rest on the lower lids, inner lips meet instead of crossing, lips keep a thickness."""
    for up, low in _LID_PAIRS:
        pts[:, up, 1] = np.maximum(pts[:, up, 1], pts[:, low, 1])
    for up, low in _INNER_LIP_PAIRS:
        crossed = pts[:, up, 1] < pts[:, low, 1]
        mid = 0.5 * (pts[:, up, 1] + pts[:, low, 1])
        pts[:, up, 1] = np.where(crossed, mid, pts[:, up, 1])
        pts[:, low, 1] = np.where(crossed, mid, pts[:, low, 1])
    min_upper, min_lower = 0.3 * idt.upper_lip_thickness, 0.3 * idt.lower_lip_thickness
    for outer, inner in _OUTER_INNER_UPPER:
        pts[:, outer, 1] = np.maximum(pts[:, outer, 1], pts[:, inner, 1] + min_upper)
    for outer, inner in _OUTER_INNER_LOWER:
        pts[:, outer, 1] = np.minimum(pts[:, outer, 1], pts[:, inner, 1] - min_lower)
    # Inner mouth corners stay inside the outer ones.
    pts[:, 60, 0] = np.maximum(pts[:, 60, 0], pts[:, 48, 0] + 0.02)
    pts[:, 64, 0] = np.minimum(pts[:, 64, 0], pts[:, 54, 0] - 0.02)


def landmarks_3d(identity: Identity, expression: np.ndarray) -> np.ndarray:
    """(T, 64) expression -> (T, 68, 3) iBUG landmarks in face units."""
    return FaceModel.build(identity).points(expression)[:, :N_LANDMARKS]


def check_pose(pose: np.ndarray, n_frames: int | None = None, where: str = "pose") -> np.ndarray:
    arr = np.asarray(pose, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < POSE_DIM:
        raise ValueError(f"{where}: expected shape (T, 6) [yaw, pitch, roll, tx, ty, tz], got {arr.shape}")
    if n_frames is not None and arr.shape[0] != n_frames:
        raise ValueError(f"{where}: has {arr.shape[0]} frames, expression has {n_frames}")
    if not np.all(np.isfinite(arr[:, :POSE_DIM])):
        raise ValueError(f"{where}: contains NaN or infinite values")
    return arr[:, :POSE_DIM]


def rotation_matrices(angles: np.ndarray) -> np.ndarray:
    """(T, 3) [yaw, pitch, roll] radians -> (T, 3, 3) rotations R = Rz(roll) @ Ry(yaw) @ Rx(pitch)."""
    yaw, pitch, roll = angles[:, 0], angles[:, 1], angles[:, 2]
    cx, sx = np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(yaw), np.sin(yaw)
    cz, sz = np.cos(roll), np.sin(roll)
    one, zero = np.ones_like(yaw), np.zeros_like(yaw)
    rx = np.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], -1).reshape(-1, 3, 3)
    ry = np.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).reshape(-1, 3, 3)
    rz = np.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], -1).reshape(-1, 3, 3)
    return rz @ ry @ rx


def project(landmarks3d: np.ndarray, pose: np.ndarray, image_size: int) -> np.ndarray:
    """(T, N, 3) face-unit points and (T, 6) pose [yaw, pitch, roll, tx, ty, tz] -> (T, N, 2) pixels.

    Positive yaw turns the face towards the image right, positive pitch tilts it down, positive roll
    turns it counter-clockwise on screen. Translation is in face units (x right, y up, z towards the
    camera). Pixel centres are at integer coordinates; x is the column, y the row.
    """
    pts = np.asarray(landmarks3d, dtype=np.float64)
    if pts.ndim != 3 or pts.shape[2] != 3:
        raise ValueError(f"project: expected points of shape (T, N, 3), got {pts.shape}")
    pose_arr = check_pose(pose, pts.shape[0])
    if image_size <= 0:
        raise ValueError(f"project: image_size must be > 0, got {image_size}")
    # With y up and z towards the camera, a positive rotation about x moves the nose tip down.
    rot = rotation_matrices(pose_arr[:, :3])
    centred = pts - HEAD_PIVOT
    world = np.einsum("tij,tnj->tni", rot, centred) + HEAD_PIVOT + pose_arr[:, None, 3:6]
    perspective = CAMERA_DISTANCE / (CAMERA_DISTANCE - world[..., 2])
    scale = PIXELS_PER_UNIT * image_size
    u = (image_size - 1) / 2.0 + scale * perspective * world[..., 0]
    v = EYE_LINE_ROW * image_size - scale * perspective * world[..., 1]
    return np.stack([u, v], axis=-1)
