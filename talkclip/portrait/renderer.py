"""The landmark-warp renderer: a photo + embedded-space expressions + head pose -> frames.

It is a 2D warp, not a neural renderer: the photo's pixels are moved by a piecewise-affine warp
whose control points follow the embedded face model's landmark motion (``driver``), and the mouth
interior is painted where the lips part (``mouth``). Identity, hair, background and lighting are
the photo's own, so they stay stable; what the photo does not show (the inside of the mouth,
the side of the head under a large turn) cannot appear, which is why head motion stays small.

Expressions must be in the embedded model's space (``talkclip.expression``): a BFM-space model's
coefficients have no landmark meaning here (use the PIRenderer path for those).
"""
from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from talkclip.portrait.driver import LandmarkDriver
from talkclip.portrait.mouth import MouthInterior
from talkclip.portrait.warp import PiecewiseAffineWarp, constrained_triangulation, triangles_inside

RENDERER_NAME = "landmark-warp"
INNER_LIPS = list(range(60, 68))
OUTER_LIPS = list(range(48, 60))
EYE_R, EYE_L = list(range(36, 42)), list(range(42, 48))
# Skin smoothing (see talkclip.portrait.warp): Gaussian sigma as a fraction of the image side, and
# how far around the lips / eyes (fractions of the mouth / eye width) the exact map is kept.
SMOOTH_SIGMA = 0.02
SMOOTH_EXACT_MOUTH = 0.35
SMOOTH_EXACT_EYE = 0.12


def without_mouth_interior(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The photo with what shows between its lips (teeth, tongue) inpainted from the lips around it.

    The warp's source: a mouth that closes more than the photo's squeezes its interior into the
    lip line, which would leave a line of teeth; where the mouth is open, the interior is painted
    (``mouth``) in every frame anyway, so the photo's own is never needed.
    """
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(landmarks[INNER_LIPS] * 16).astype(np.int32)], 255, cv2.LINE_8, 4)
    if not mask.any():
        return image
    mask = cv2.dilate(mask, np.ones((3, 3), np.uint8))
    return cv2.inpaint(np.ascontiguousarray(image), mask, 3, cv2.INPAINT_TELEA)


class PortraitWarpRenderer:
    """Renders one photo (already cropped to a square, with its 68 landmarks)."""

    name = RENDERER_NAME
    expression_space = "embedded"

    def __init__(self, image: np.ndarray, landmarks: np.ndarray, map_stride: int | None = None) -> None:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[0] != image.shape[1] or image.shape[2] != 3:
            raise ValueError(f"PortraitWarpRenderer: expected a square (S, S, 3) image, got {image.shape}")
        self.image_size = image.shape[0]
        self.driver = LandmarkDriver(landmarks, self.image_size)
        topology = self.driver.topology_points()
        triangles = constrained_triangulation(topology, [OUTER_LIPS, INNER_LIPS, EYE_R, EYE_L])
        interiors = (triangles_inside(topology, triangles, INNER_LIPS) | triangles_inside(topology, triangles, EYE_R)
                     | triangles_inside(topology, triangles, EYE_L))
        # The map is piecewise affine: a coarser grid loses nothing visible (2 px at 256, 4 at 512).
        stride = map_stride or max(1, self.image_size // 128)
        while self.image_size % stride:
            stride -= 1
        rest = self.driver.rest[self.driver.points.warp]
        mouth_width = float(np.linalg.norm(rest[54] - rest[48]))
        eye_width = float(np.linalg.norm(rest[39] - rest[36]) + np.linalg.norm(rest[45] - rest[42])) / 2
        exact = [(OUTER_LIPS, SMOOTH_EXACT_MOUTH * mouth_width), (EYE_R, SMOOTH_EXACT_EYE * eye_width),
                 (EYE_L, SMOOTH_EXACT_EYE * eye_width)]
        self.mouth = MouthInterior(image, landmarks)
        self.warp = PiecewiseAffineWarp(without_mouth_interior(image, landmarks), rest, triangles, interiors,
                                        map_stride=stride, smooth_sigma=SMOOTH_SIGMA * self.image_size,
                                        exact_regions=exact)

    @property
    def rest_expression(self) -> np.ndarray:
        """The photo's own mouth state in the embedded space (what zero motion means)."""
        return self.driver.rest_expression

    def frames(self, expression: np.ndarray, pose: np.ndarray | None = None, chunk: int = 64) -> Iterator[np.ndarray]:
        """Yield (S, S, 3) uint8 frames for (T, 64) expressions and (T, 6) relative poses (None: still)."""
        points = self.driver.points
        warp_rows = points.warp
        for start in range(0, len(expression), chunk):
            stop = min(start + chunk, len(expression))
            targets = self.driver.drive(expression[start:stop], None if pose is None else pose[start:stop])
            for target in targets:
                frame = self.warp.warp(target[warp_rows])
                self.mouth.paint(frame, target[INNER_LIPS], target[points.teeth_upper], target[points.teeth_lower])
                yield frame

    def landmarks(self, expression: np.ndarray, pose: np.ndarray | None = None) -> np.ndarray:
        """(T, 68, 2) landmark positions of the rendered frames (the warp's targets)."""
        return self.driver.drive(expression, pose)[:, :68]

    def render_sequence(self, reference_image: np.ndarray, expression: np.ndarray, pose: np.ndarray) -> np.ndarray:
        """``talkclip.corpus.renderer.Renderer``: (T, S, S, 3) frames (the photo was given at construction)."""
        if np.asarray(reference_image).shape != self.warp.image.shape:
            raise ValueError(f"PortraitWarpRenderer: reference_image is {np.asarray(reference_image).shape}, "
                             f"the renderer was built for {self.warp.image.shape}")
        pose_arr = np.asarray(pose, dtype=np.float64)
        return np.stack(list(self.frames(expression, pose_arr[:, :6])))
