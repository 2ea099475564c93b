"""Embedded-space expressions and head pose -> positions of the warp's control points on a photo.

The embedded face model (``talkclip.corpus.face_model``) gives, for any 64-d expression, the exact
positions of the 68 iBUG landmarks and of a few more points (cheeks, nasolabial folds, chin, lid
creases, forehead, incisal edges). A photo differs from the model's face in shape, so the model's
*displacements* are carried over, not its positions:

    target_i = photo_i + L_r(i) (m_i(e) - m_i(e_rest)) + L_head (m_i(e, pose) - m_i(e))

- ``m_i(e)``: point i of the model face (a fixed, gender-neutral identity) for expression ``e``,
  projected frontally; ``m_i(e, pose)`` with the head pose of the frame.
- ``L_r``: the linear part of an affine map fitted from the model's points to the photo's
  landmarks in the region of point i (mouth, jaw, each eye with its brow, nose, the whole face),
  so that a wider mouth or larger eyes move proportionally further.
- ``e_rest``: the photo's own mouth state (lips parted, jaw dropped, a smile), fitted to its
  inner-lip gap and mouth-corner height, so that a photo with parted lips can still close them
  for P, B, M, and a smiling photo can look neutral or angry.
- ``L_head``: the affine fitted on the rigid part of the face (eyes, nose).

Points that the model does not have (a ring around the head and hair, the image border) are added
for the warp: the ring moves with the head pose only, the border stays fixed, so hair and
background stay stable. The lids keep the photo's opening scaled by the model's (so that a blink
closes exactly), and the inner lips are kept from crossing in image space, as the model keeps them
in its own.

Gaze (``gaze_*``) moves only the model's irises, which are not warp points, and ``face_flush`` /
``pupil_dilate`` are drawn-only components: all three are ignored by the warp.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import ConvexHull

from talkclip.corpus.face_model import EYE_LINE_ROW, PIXELS_PER_UNIT, POSE_DIM, FaceModel, check_pose, project
from talkclip.corpus.identity import Identity
from talkclip.expression import COMPONENT_INDEX, EXPRESSION_DIM, check_expression

MODEL_PX = 256  # the model is projected at this size; the affine fits absorb the scale
EXPRESSION_CLIP = (-0.5, 1.5)  # coefficients far outside 0..1 are the decoder's noise, not faces

# Extra model points used by the warp (group name in FaceModel.groups -> fitting region).
EXTRA_GROUPS: dict[str, str] = {
    "cheek": "face",
    "nasolabial": "mouth",
    "chin": "jaw",
    "crease_r": "eye_r",
    "crease_l": "eye_l",
    "forehead": "face",
}
TEETH_GROUPS: tuple[str, ...] = ("teeth_upper", "teeth_lower")  # mouth painter only, not warp points
# The cartoon renderer hides most of the upper teeth behind its lip; photos of open mouths show a
# few millimetres of them: the upper incisal edge is lowered by this much (face units).
UPPER_TEETH_DROP = 0.04

# Landmarks each region's affine is fitted on, and the landmarks it drives.
REGION_FIT: dict[str, list[int]] = {
    "jaw": list(range(17)) + [48, 54],
    "mouth": list(range(48, 68)),
    "eye_r": list(range(36, 42)) + list(range(17, 22)),
    "eye_l": list(range(42, 48)) + list(range(22, 27)),
    "nose": list(range(27, 36)),
    "face": list(range(27, 48)),  # rigid: eyes and nose (the mouth and jaw move with speech)
}
REGION_OF_LANDMARK: list[str] = (
    ["jaw"] * 17 + ["eye_r"] * 5 + ["eye_l"] * 5 + ["nose"] * 9 + ["eye_r"] * 6 + ["eye_l"] * 6 + ["mouth"] * 20
)

LID_PAIRS = ((37, 41), (38, 40), (43, 47), (44, 46))  # (upper, lower): upper may not pass below lower
INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))
REST_MOUTH_COMPONENTS = ("lips_part", "jaw_open")
SMILE_DEADZONE = 0.2  # corner lifts below this (in lip_corner_pull units) count as the mouth's shape
RING_POINTS = 20
BORDER_STEPS = 4  # border points per image side


def reference_identity() -> Identity:
    """A gender-neutral identity: the middle of the embedded corpus's ranges for men and women."""
    return Identity(
        gender="W", face_half_width=1.01, jaw_depth=1.665, jaw_squareness=2.6, forehead_height=1.05,
        eye_half_spacing=0.49, eye_width=0.40, eye_opening=0.155, eye_canthal_tilt=0.01, brow_height=0.29,
        brow_thickness=0.07, brow_arch=0.05, nose_length=0.79, nose_half_width=0.18, mouth_height=1.195,
        mouth_half_width=0.365, upper_lip_thickness=0.075, lower_lip_thickness=0.10, ear_size=1.0,
        skin_rgb=(220, 175, 140), hair_rgb=(60, 40, 30), iris_rgb=(90, 60, 35), lip_rgb=(190, 110, 100),
        background_rgb=(190, 195, 200), shirt_rgb=(60, 60, 70), hair_style="short", hair_volume=0.1,
        hair_part=0.0,
    )


def fit_affine(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(3, 2) M with [x, y, 1] @ M ~ target, least squares over the points (N >= 3)."""
    design = np.concatenate([source, np.ones((len(source), 1))], axis=1)
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    return solution


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:2] + matrix[2]


@dataclass(frozen=True)
class ControlPoints:
    """Names of the rows of the driver's point arrays."""

    landmarks: slice  # the 68 iBUG points
    extras: slice  # model points added to the warp (cheeks, folds, chin, creases, forehead)
    ring: slice  # around head and hair: moves with the pose only
    border: slice  # the image border: fixed
    teeth_upper: slice  # incisal edge of the upper teeth (3 points; not warp points)
    teeth_lower: slice

    @property
    def warp(self) -> np.ndarray:
        """Indices of the points the warp triangulates (everything but the teeth)."""
        return np.r_[self.landmarks, self.extras, self.ring, self.border]


class LandmarkDriver:
    """Carries the embedded face model's motion over to one photo's landmarks (see module docstring)."""

    def __init__(self, landmarks: np.ndarray, image_size: int) -> None:
        landmarks = np.asarray(landmarks, dtype=np.float64)
        if landmarks.shape != (68, 2) or not np.isfinite(landmarks).all():
            raise ValueError(f"LandmarkDriver: expected (68, 2) finite landmarks, got {landmarks.shape}")
        self.image_size = int(image_size)
        self.model = FaceModel.build(reference_identity())
        groups = self.model.groups
        self._model_rows = np.r_[np.arange(68), *[np.arange(self.model.n_points)[groups[g]] for g in EXTRA_GROUPS],
                                 *[np.arange(self.model.n_points)[groups[g]] for g in TEETH_GROUPS]]
        first_tooth = len(self._model_rows) - sum(groups[g].stop - groups[g].start for g in TEETH_GROUPS)
        self.points_teeth_upper = np.arange(first_tooth, first_tooth + groups["teeth_upper"].stop
                                            - groups["teeth_upper"].start)
        region_of = list(REGION_OF_LANDMARK)
        for group, region in EXTRA_GROUPS.items():
            region_of += [region] * (groups[group].stop - groups[group].start)
        region_of += ["mouth"] * sum(groups[g].stop - groups[g].start for g in TEETH_GROUPS)
        self._region_of = np.array(region_of)

        # The photo's rest mouth state, then every region's affine (model at rest -> photo).
        neutral_2d = self._frontal(np.zeros((1, EXPRESSION_DIM)))[0]
        self.head_affine = fit_affine(neutral_2d[REGION_FIT["face"]], landmarks[REGION_FIT["face"]])
        self.rest_expression = self._fit_rest_mouth(landmarks, neutral_2d)
        self._rest_model = self._frontal(self.rest_expression[None])[0]
        self.region_affine = {name: fit_affine(self._rest_model[rows], landmarks[rows])
                              for name, rows in REGION_FIT.items()}
        self._linear = np.stack([self.region_affine[r][:2] for r in self._region_of])  # (M, 2, 2)
        rest_model_points = np.empty_like(self._rest_model)
        for name, matrix in self.region_affine.items():
            rows = self._region_of == name
            rest_model_points[rows] = apply_affine(matrix, self._rest_model[rows])
        rest_model_points[:68] = landmarks  # detected positions are the truth where we have them
        self._rest_points_model = rest_model_points

        n_model, n_teeth = len(self._model_rows), sum(groups[g].stop - groups[g].start for g in TEETH_GROUPS)
        n_warp_model = n_model - n_teeth
        ring = self._ring(rest_model_points[:n_warp_model])
        border = self._border()
        n_up = groups["teeth_upper"].stop - groups["teeth_upper"].start
        base = n_warp_model
        self.points = ControlPoints(
            landmarks=slice(0, 68), extras=slice(68, n_warp_model),
            ring=slice(base, base + len(ring)), border=slice(base + len(ring), base + len(ring) + len(border)),
            teeth_upper=slice(base + len(ring) + len(border), base + len(ring) + len(border) + n_up),
            teeth_lower=slice(base + len(ring) + len(border) + n_up, base + len(ring) + len(border) + n_teeth),
        )
        self.rest = np.concatenate([rest_model_points[:n_warp_model], ring, border, rest_model_points[n_warp_model:]])
        # Ring points as 3-d model points (depth of the ears' plane) for the pose's parallax.
        self._ring_model_3d = self._image_to_model_3d(ring)

    # -- model geometry --------------------------------------------------------------------------
    def _model_points_3d(self, expression: np.ndarray) -> np.ndarray:
        expr = np.clip(check_expression(expression), *EXPRESSION_CLIP)
        points = self.model.points(expr)[:, self._model_rows]
        points[:, self.points_teeth_upper, 1] -= UPPER_TEETH_DROP
        return points

    def _frontal(self, expression: np.ndarray) -> np.ndarray:
        pts = self._model_points_3d(expression)
        return project(pts, np.zeros((len(pts), POSE_DIM)), MODEL_PX)

    def _fit_rest_mouth(self, landmarks: np.ndarray, neutral_2d: np.ndarray) -> np.ndarray:
        """The photo's lips_part / jaw_open (from the gap between its inner lips) and smile.

        The gap is the mean of the three inner-lip pairs, in model pixels (head affine inverted).
        A gap up to what ``lips_part`` alone opens is parted lips; more is a dropped jaw as well
        (as in speech: small openings are the lips, larger ones the jaw).
        """
        def gap(points: np.ndarray) -> float:
            return float(np.mean([points[lower, 1] - points[upper, 1] for upper, lower in INNER_LIP_PAIRS]))

        photo_gap = gap(self._photo_to_model_px(landmarks)) - gap(neutral_2d)
        unit_gap = {}
        for name in REST_MOUTH_COMPONENTS:
            unit = np.zeros((1, EXPRESSION_DIM))
            unit[0, COMPONENT_INDEX[name]] = 1.0
            unit_gap[name] = gap(self._frontal(unit)[0]) - gap(neutral_2d)
        lips = float(np.clip(photo_gap / unit_gap["lips_part"], 0.0, 1.0))
        jaw = float(np.clip((photo_gap - lips * unit_gap["lips_part"]) / unit_gap["jaw_open"], 0.0, 1.0))
        rest = np.zeros(EXPRESSION_DIM)
        rest[COMPONENT_INDEX["lips_part"]], rest[COMPONENT_INDEX["jaw_open"]] = lips, jaw
        # A smiling photo: how far its mouth corners sit above the upper lip's centre, beyond what the
        # model's neutral mouth in this state has, in units of the model's lip_corner_pull. Small lifts
        # are the person's mouth shape, not a smile (SMILE_DEADZONE).
        def lift(points: np.ndarray) -> float:
            return float(points[62, 1] - 0.5 * (points[48, 1] + points[54, 1]))

        smile = rest.copy()
        smile[[COMPONENT_INDEX["lip_corner_pull_l"], COMPONENT_INDEX["lip_corner_pull_r"]]] = 1.0
        base, full = lift(self._frontal(rest[None])[0]), lift(self._frontal(smile[None])[0])
        pull = (lift(self._photo_to_model_px(landmarks)) - base) / (full - base) - SMILE_DEADZONE
        rest[[COMPONENT_INDEX["lip_corner_pull_l"], COMPONENT_INDEX["lip_corner_pull_r"]]] = float(np.clip(pull, 0, 1))
        return rest

    def _ring(self, face_points: np.ndarray) -> np.ndarray:
        """Points on an ellipse around face, forehead and hair, well inside the image.

        Points that would come closer to the image border than a margin, or to the face than
        a tenth of its size, are left out: there the fixed border (or the face itself) bounds the
        warp instead.
        """
        low, high = face_points.min(0), face_points.max(0)
        centre = 0.5 * (low + high)
        half = 0.5 * (high - low) * np.array([1.35, 1.3])
        angles = np.linspace(0, 2 * np.pi, RING_POINTS, endpoint=False)
        ring = centre + half * np.stack([np.cos(angles), np.sin(angles)], 1)
        margin = 0.05 * self.image_size
        inside = np.all((ring > margin) & (ring < self.image_size - 1 - margin), axis=1)
        hull = face_points[ConvexHull(face_points).vertices].astype(np.float32)
        clearance = 0.1 * float(np.max(high - low))
        away = np.array([-cv2.pointPolygonTest(hull, (float(x), float(y)), True) > clearance for x, y in ring])
        return ring[inside & away]

    def _border(self) -> np.ndarray:
        lo, hi = -0.5, self.image_size - 0.5
        steps = np.linspace(lo, hi, BORDER_STEPS + 1)[:-1]
        top = np.stack([steps, np.full_like(steps, lo)], 1)
        right = np.stack([np.full_like(steps, hi), steps], 1)
        bottom = np.stack([hi + lo - steps, np.full_like(steps, hi)], 1)
        left = np.stack([np.full_like(steps, lo), hi + lo - steps], 1)
        return np.concatenate([top, right, bottom, left])

    def _photo_to_model_px(self, points: np.ndarray) -> np.ndarray:
        """Photo pixels -> the model's frontal image (inverse of the head affine)."""
        return np.linalg.solve(self.head_affine[:2].T, (points - self.head_affine[2]).T).T

    def _image_to_model_3d(self, points: np.ndarray) -> np.ndarray:
        """Image points -> face-unit model points at the depth of the ears (z = 0)."""
        model_px = self._photo_to_model_px(points)
        scale = PIXELS_PER_UNIT * MODEL_PX  # project()'s scale, perspective ignored (depth 0 is near the pivot)
        x = (model_px[:, 0] - (MODEL_PX - 1) / 2.0) / scale
        y = (EYE_LINE_ROW * MODEL_PX - model_px[:, 1]) / scale
        return np.stack([x, y, np.zeros_like(x)], 1)

    def topology_points(self) -> np.ndarray:
        """The rest positions of the warp points with the lips and lids held a little apart.

        The warp is triangulated on these: the mouth gap and the eyes must have an inside
        (photos with closed lips, or dlib's inner lips crossing, have none).
        """
        points = self.rest[self.points.warp].copy()
        mouth_width = float(np.linalg.norm(points[54] - points[48]))
        # Each inner-lip point may move at most half way to its outer-lip point, so that the inner
        # contour stays inside the outer one (at small sizes the lips are only a few pixels thick).
        outer_of = {61: 50, 62: 51, 63: 52, 65: 56, 66: 57, 67: 58}
        for pairs, min_gap in ((INNER_LIP_PAIRS, 0.08 * mouth_width), (LID_PAIRS, 0.03 * mouth_width)):
            for upper, lower in pairs:
                gap = points[lower, 1] - points[upper, 1]
                if gap >= min_gap:
                    continue
                middle = 0.5 * (points[lower, 1] + points[upper, 1])
                new_upper, new_lower = middle - min_gap / 2, middle + min_gap / 2
                if upper in outer_of:
                    new_upper = max(new_upper, 0.5 * (points[upper, 1] + points[outer_of[upper], 1]))
                    new_lower = min(new_lower, 0.5 * (points[lower, 1] + points[outer_of[lower], 1]))
                points[upper, 1], points[lower, 1] = min(new_upper, points[upper, 1]), max(new_lower, points[lower, 1])
        # The inner contour strictly inside the outer one: dlib's integer landmarks put inner corners on
        # the outer contour's segments in small photos, where no triangulation could keep both edges.
        centre = points[48:60].mean(0)
        points[60:68] = centre + 0.9 * (points[60:68] - centre)
        return points

    # -- per frame -------------------------------------------------------------------------------
    def drive(self, expression: np.ndarray, pose: np.ndarray | None = None) -> np.ndarray:
        """(T, 64) expressions and (T, 6) poses (None: still) -> (T, N, 2) points (rows: ``self.points``)."""
        expr = check_expression(expression)
        n = len(expr)
        pose_arr = np.zeros((n, POSE_DIM)) if pose is None else check_pose(pose, n)
        pts3d = self._model_points_3d(expr)
        frontal = project(pts3d, np.zeros((n, POSE_DIM)), MODEL_PX)
        posed = project(pts3d, pose_arr, MODEL_PX)
        expression_motion = np.einsum("tmi,mij->tmj", frontal - self._rest_model, self._linear)
        head_motion = (posed - frontal) @ self.head_affine[:2]
        model_points = self._rest_points_model + expression_motion + head_motion

        ring3d = np.broadcast_to(self._ring_model_3d, (n,) + self._ring_model_3d.shape)
        ring_motion = (project(ring3d, pose_arr, MODEL_PX) - project(ring3d, np.zeros_like(pose_arr), MODEL_PX))
        ring = self.rest[self.points.ring] + ring_motion @ self.head_affine[:2]
        border = np.broadcast_to(self.rest[self.points.border], (n,) + self.rest[self.points.border].shape)
        # Lids: the photo's own opening, scaled by how far the model's lids are open relative to rest
        # (an affine carried displacement would leave a blink a pixel short of closed, or overshoot).
        for upper, lower in LID_PAIRS:
            model_gap = frontal[:, lower, 1] - frontal[:, upper, 1]
            ratio = np.clip(model_gap / max(self._rest_model[lower, 1] - self._rest_model[upper, 1], 1e-6), 0, None)
            photo_gap = self._rest_points_model[lower, 1] - self._rest_points_model[upper, 1]
            model_points[:, upper, 1] = model_points[:, lower, 1] - max(photo_gap, 0.0) * ratio
        n_warp_model = self.points.extras.stop
        out = np.concatenate([model_points[:, :n_warp_model], ring, border, model_points[:, n_warp_model:]], axis=1)
        _keep_contacts(out)
        return out


def _keep_contacts(points: np.ndarray) -> None:
    """In place, image y pointing down: upper lids stay above lower lids, inner lips do not cross."""
    for upper, lower in LID_PAIRS:
        points[:, upper, 1] = np.minimum(points[:, upper, 1], points[:, lower, 1])
    for upper, lower in INNER_LIP_PAIRS:
        crossed = points[:, upper, 1] > points[:, lower, 1]
        middle = 0.5 * (points[:, upper, 1] + points[:, lower, 1])
        points[:, upper, 1] = np.where(crossed, middle, points[:, upper, 1])
        points[:, lower, 1] = np.where(crossed, middle, points[:, lower, 1])
