"""The inside of the mouth where the warped lips part: a dark cavity with upper and lower teeth.

A warp can only stretch the photo's pixels, and a closed mouth has no inside to stretch, so the
region inside the inner-lip contour (iBUG 60-67) is painted over every frame:

- the cavity, dark red from the photo's own lip colour, lighter towards the bottom (the tongue);
- the upper teeth hang from the upper incisal edge, which is fixed to the skull, so raising the
  upper lip (AU10) or opening the jaw shows more of them; the lower teeth rise from the lower
  incisal edge, which moves with the jaw (both edges come from the embedded face model);
- teeth take the photo's own colour where its lips are parted over them, else off-white scaled
  to the face's highlights; they darken towards the mouth corners.

The shapes are drawn at ``supersample`` times the output size inside the mouth's bounding box and
box-filtered, then composited with a slightly blurred alpha so that the lips keep soft edges.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

INNER_LIPS = list(range(60, 68))
TEETH_RGB = np.array([232.0, 224.0, 206.0])
TOOTH_GAPS = (-0.62, -0.36, -0.12, 0.12, 0.36, 0.62)  # between incisors / canines, fractions of the half width


def _curve(points: np.ndarray, n: int = 9) -> np.ndarray:
    """A quadratic through three points (left, middle, right), sampled at n points."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    left, mid, right = points
    control = 2.0 * mid - 0.5 * (left + right)  # the Bezier control point that passes through ``mid``
    return (1 - t) ** 2 * left + 2 * (1 - t) * t * control + t**2 * right


class MouthInterior:
    def __init__(self, image: np.ndarray, landmarks: np.ndarray, supersample: int = 3) -> None:
        self.supersample = supersample
        image = np.asarray(image, dtype=np.float64)
        height, width = image.shape[:2]
        self.size = (width, height)
        # Photo colours: the lips (between outer and inner contour) and the skin of the cheeks.
        lips = self._polygon_mask(landmarks[48:60], (width, height)) & ~self._polygon_mask(landmarks[60:68],
                                                                                           (width, height))
        lip_rgb = image[lips].mean(0) if lips.any() else np.array([170.0, 90.0, 90.0])
        face = self._polygon_mask(np.concatenate([landmarks[1:16], landmarks[[35, 42, 39, 31]]]), (width, height))
        # Teeth: the photo's own where its lips are parted over bright teeth, else off-white scaled
        # by the face's highlights (teeth are brighter than skin under the same light).
        face_luma = image[face] @ [0.299, 0.587, 0.114] if face.any() else np.array([180.0])
        highlight = float(np.percentile(face_luma, 98))
        self.teeth_rgb = TEETH_RGB * float(np.clip(highlight / 200.0, 0.75, 1.0))
        interior = self._polygon_mask(landmarks[60:68], (width, height))
        if interior.sum() >= 12:
            pixels = image[interior]
            luma = pixels @ [0.299, 0.587, 0.114]
            bright = pixels[luma >= np.percentile(luma, 75)].mean(0)
            saturation = (bright.max() - bright.min()) / max(bright.max(), 1.0)
            # Teeth, not lips or a shadow: clearly brighter than the lips and nearly grey.
            if bright @ [0.299, 0.587, 0.114] > 1.15 * float(lip_rgb @ [0.299, 0.587, 0.114]) and saturation < 0.25:
                self.teeth_rgb = np.clip(0.5 * bright + 0.5 * bright.mean() + 10.0, 0, 255)  # a little less saturated
        self.cavity_rgb = np.clip(lip_rgb * [0.30, 0.15, 0.15], 0, 255)
        self.tongue_rgb = np.clip(lip_rgb * [0.72, 0.42, 0.42], 0, 255)

    @staticmethod
    def _polygon_mask(polygon: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        mask = Image.new("L", size, 0)
        ImageDraw.Draw(mask).polygon([tuple(p) for p in polygon.astype(float)], fill=1)
        return np.asarray(mask, dtype=bool)

    def paint(self, frame: np.ndarray, inner_lips: np.ndarray, teeth_upper: np.ndarray,
              teeth_lower: np.ndarray) -> np.ndarray:
        """Paint the mouth interior into ``frame`` (H, W, 3) uint8 (in place); returns the frame."""
        inner_lips = np.asarray(inner_lips, dtype=np.float64)
        upper, lower = inner_lips[[1, 2, 3]], inner_lips[[7, 6, 5]]
        opening = float(np.max(lower[:, 1] - upper[:, 1]))
        if opening < 0.25:  # closed; a little more already draws the dark line between the lips
            return frame
        width, height = self.size
        x0 = int(max(np.floor(inner_lips[:, 0].min()) - 2, 0))
        x1 = int(min(np.ceil(inner_lips[:, 0].max()) + 3, width))
        y0 = int(max(np.floor(inner_lips[:, 1].min()) - 2, 0))
        y1 = int(min(np.ceil(inner_lips[:, 1].max()) + 3, height))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return frame
        s = self.supersample
        box = (x1 - x0, y1 - y0)
        big = (box[0] * s, box[1] * s)

        def local(points: np.ndarray) -> list[tuple[float, float]]:
            # Output pixel centre x sits at s * (x - x0) + (s - 1) / 2 on the large canvas.
            return [tuple(p) for p in ((points - [x0, y0]) * s + (s - 1) / 2.0)]

        cavity = Image.new("L", big, 0)
        ImageDraw.Draw(cavity).polygon(local(inner_lips), fill=255)
        teeth = Image.new("L", big, 0)
        draw = ImageDraw.Draw(teeth)
        above = y0 - 10.0
        below = y1 + 10.0
        edge_up = _curve(teeth_upper)
        edge_low = _curve(teeth_lower)
        draw.polygon(local(np.concatenate([[[edge_up[0, 0], above]], edge_up, [[edge_up[-1, 0], above]]])), fill=255)
        draw.polygon(local(np.concatenate([[[edge_low[0, 0], below]], edge_low, [[edge_low[-1, 0], below]]])), fill=255)
        cavity_small = cavity.resize(box, Image.BOX).filter(ImageFilter.GaussianBlur(0.5))
        alpha = np.asarray(cavity_small, dtype=np.float64)[..., None] / 255.0
        teeth_alpha = np.asarray(teeth.resize(box, Image.BOX), dtype=np.float64)[..., None] / 255.0

        # Colours: cavity darkest at the top, the tongue's red at the bottom centre; teeth greyer
        # towards the corners (less light reaches them), shadowed under the upper lip, with faint
        # gaps between the incisors so that the white reads as teeth.
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        centre_x = 0.5 * (inner_lips[0, 0] + inner_lips[4, 0])
        half_width = max(0.5 * abs(inner_lips[4, 0] - inner_lips[0, 0]), 1.0)
        signed = np.clip((xs - centre_x) / half_width, -1.0, 1.0)[..., None]
        across = np.abs(signed)
        top, bottom = upper[:, 1].mean(), lower[:, 1].mean()
        down = np.clip((ys - top) / max(bottom - top, 1.0), 0.0, 1.0)[..., None]
        tongue = np.clip(down * 1.6 - 0.6, 0.0, 1.0) * (1.0 - across**2)
        cavity_rgb = self.cavity_rgb * (1 - tongue) + self.tongue_rgb * tongue
        under_lip = np.clip((ys[..., None] - top) / max(0.12 * half_width, 1.0), 0.0, 1.0)
        gaps = np.zeros_like(across)
        for position in TOOTH_GAPS:
            gaps = np.maximum(gaps, np.exp(-(((signed - position) * half_width) ** 2) / 0.5))
        shade = (1.0 - 0.45 * across**2) * (0.8 + 0.2 * under_lip) * (1.0 - 0.2 * gaps)
        teeth_rgb = self.teeth_rgb * shade + self.cavity_rgb * (1 - shade)
        colour = cavity_rgb * (1 - teeth_alpha) + teeth_rgb * teeth_alpha

        region = frame[y0:y1, x0:x1].astype(np.float64)
        frame[y0:y1, x0:x1] = np.clip(region * (1 - alpha) + colour * alpha + 0.5, 0, 255).astype(np.uint8)
        return frame
