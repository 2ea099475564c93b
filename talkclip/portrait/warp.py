"""Piecewise-affine backward warp of a photo over a fixed triangulation of control points.

The triangulation is made once per photo: Delaunay over the control points with the mouth held
open (so that the mouth interior is triangulated from the inner-lip points alone), then the lip
and eye contours are forced into it as edges by edge flips (constrained-edge recovery, Sloan
1993). With those edges, each part keeps its own pixels: the lower lip and chin move with the
jaw, the lids close over the eye, and no triangle spans from the upper lip to the lower one.

Per frame, every pixel of the output takes the colour of the photo at the position that the
affine map of its (target) triangle sends it back to. The map is piecewise affine, so it is
computed on a grid ``map_stride`` times coarser (triangle ids rasterised there, one affine per
triangle) and upsampled bilinearly before a bilinear remap of the photo at full size (OpenCV).
Triangles of the mouth gap and the eye interiors are drawn first, so that where a closing
mouth or eye makes them degenerate, the lips and lids drawn after them own the pixels.

A piecewise-affine map bends at every triangle edge; where a large motion crosses few triangles
(raised brows, brows drawn together) the bends show as kinks in straight edges. So the skin gets
a smoothed map: the displacement (source - position) is Gaussian-blurred by normalised
convolution that leaves out the mouth gap and the eye interiors (whose maps are not the skin's),
and the exact map is kept only inside ``exact_regions`` (the lips and the eyes, dilated and
feathered), where lid and lip edges must meet the painted mouth and each other exactly.
"""
from __future__ import annotations

import warnings

import cv2
import numpy as np
from scipy.spatial import Delaunay

SUBPIXEL_SHIFT = 4  # fillConvexPoly's fixed-point bits: vertices at 1/16 pixel
MAX_FLIPS = 5000


class TriangulationError(RuntimeError):
    """The constrained edges could not be recovered (the control points are degenerate)."""


def _orient(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Signed doubled areas of the triangles (positive: counter-clockwise in x-right, y-down pixels)."""
    a, b, c = points[triangles[:, 0]], points[triangles[:, 1]], points[triangles[:, 2]]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def _cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))


def _segments_cross(p1: np.ndarray, p2: np.ndarray, p3: np.ndarray, p4: np.ndarray) -> bool:
    """Whether the open segments p1p2 and p3p4 cross (touching at an end point does not count)."""
    d1, d2 = _cross(p3, p4, p1), _cross(p3, p4, p2)
    d3, d4 = _cross(p1, p2, p3), _cross(p1, p2, p4)
    return d1 * d2 < 0 and d3 * d4 < 0


def _edges(triangles: list[list[int]]) -> dict[tuple[int, int], list[int]]:
    edges: dict[tuple[int, int], list[int]] = {}
    for t, (a, b, c) in enumerate(triangles):
        for u, v in ((a, b), (b, c), (c, a)):
            edges.setdefault((min(u, v), max(u, v)), []).append(t)
    return edges


def _recover_edge(points: np.ndarray, triangles: list[list[int]], a: int, b: int) -> None:
    """Flip edges crossing segment ab until ab is an edge of the triangulation (in place)."""
    for _ in range(MAX_FLIPS):
        edges = _edges(triangles)
        if (min(a, b), max(a, b)) in edges:
            return
        crossing = [e for e in edges if a not in e and b not in e and len(edges[e]) == 2
                    and _segments_cross(points[a], points[b], points[e[0]], points[e[1]])]
        for u, v in crossing:
            t1, t2 = edges[(u, v)]
            p = next(x for x in triangles[t1] if x not in (u, v))
            q = next(x for x in triangles[t2] if x not in (u, v))
            if _segments_cross(points[u], points[v], points[p], points[q]):  # convex quad: flippable
                triangles[t1], triangles[t2] = [p, q, u], [q, p, v]
                break
        else:
            raise TriangulationError(f"cannot recover the edge {a}-{b}: no flippable crossing edge")
    raise TriangulationError(f"cannot recover the edge {a}-{b} in {MAX_FLIPS} flips")


def constrained_triangulation(points: np.ndarray, contours: list[list[int]]) -> np.ndarray:
    """(M, 3) counter-clockwise triangles of ``points`` (N, 2) with every closed contour's edges present."""
    triangles = [list(map(int, t)) for t in Delaunay(points).simplices]
    for contour in contours:
        for i, a in enumerate(contour):
            try:
                _recover_edge(points, triangles, a, contour[(i + 1) % len(contour)])
            except TriangulationError as exc:
                # Degenerate points (contours touching): keep the valid Delaunay edges here; the warp
                # still works, only this part may smear (e.g. lips spanning the mouth gap).
                warnings.warn(f"warp triangulation: {exc}; the contour {contour[0]}-{contour[-1]} is not "
                              "kept exactly", stacklevel=2)
    out = np.array(triangles, dtype=np.int64)
    flip = _orient(points, out) < 0
    out[flip] = out[flip][:, [0, 2, 1]]
    return out


def triangles_inside(points: np.ndarray, triangles: np.ndarray, contour: list[int]) -> np.ndarray:
    """Mask of the triangles made only of ``contour``'s points whose centroid is inside it."""
    members = np.isin(triangles, contour).all(axis=1)
    polygon = points[contour].astype(np.float32)
    centroids = points[triangles].mean(axis=1)
    inside = np.array([cv2.pointPolygonTest(polygon, (float(x), float(y)), False) > 0 for x, y in centroids])
    return members & inside


class PiecewiseAffineWarp:
    """Backward piecewise-affine warp of one photo (see the module docstring)."""

    def __init__(self, image: np.ndarray, rest_points: np.ndarray, triangles: np.ndarray,
                 draw_first: np.ndarray | None = None, map_stride: int = 2, smooth_sigma: float = 0.0,
                 exact_regions: list[tuple[list[int], float]] | None = None) -> None:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"PiecewiseAffineWarp: image must be (H, W, 3) uint8, got {image.dtype} {image.shape}")
        self.image = np.ascontiguousarray(image)
        self.height, self.width = image.shape[:2]
        if self.height % map_stride or self.width % map_stride:
            raise ValueError(f"PiecewiseAffineWarp: image size {self.width}x{self.height} is not a multiple of "
                             f"map_stride {map_stride}")
        self.rest = np.asarray(rest_points, dtype=np.float64)
        first = np.zeros(len(triangles), bool) if draw_first is None else np.asarray(draw_first, bool)
        order = np.r_[np.flatnonzero(first), np.flatnonzero(~first)]
        self.triangles = np.asarray(triangles)[order]
        self.n_first = int(first.sum())  # ids 1..n_first: the interiors (left out of the smoothing)
        self.stride = map_stride
        self.smooth_sigma = float(smooth_sigma) / map_stride  # in coarse pixels
        self.exact_regions = [(list(rows), float(radius) / map_stride) for rows, radius in (exact_regions or [])]
        # Coarse grid: the full-size coordinates of the coarse pixel centres (cv2.resize's alignment).
        coarse_h, coarse_w = self.height // map_stride, self.width // map_stride
        self._coarse_hw = (coarse_h, coarse_w)
        xs = (np.arange(coarse_w) + 0.5) * map_stride - 0.5
        ys = (np.arange(coarse_h) + 0.5) * map_stride - 0.5
        grid_x, grid_y = np.meshgrid(xs, ys)
        self._grid = np.stack([grid_x.ravel(), grid_y.ravel(), np.ones(grid_x.size)], axis=1)  # (P, 3)
        self._ids = np.zeros(self._coarse_hw, np.int32)
        full_x, full_y = np.meshgrid(np.arange(self.width, dtype=np.float32), np.arange(self.height, dtype=np.float32))
        self._full_x, self._full_y = full_x, full_y

    def _affines(self, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per triangle: (3, 2) maps target -> rest, and which triangles are non-degenerate."""
        tri_target = target[self.triangles]  # (M, 3, 2)
        design = np.concatenate([tri_target, np.ones(tri_target.shape[:2] + (1,))], axis=2)  # (M, 3, 3)
        area = np.abs(_orient(target, self.triangles))
        valid = area > 1e-3
        affines = np.zeros((len(self.triangles), 3, 2))
        affines[valid] = np.linalg.solve(design[valid], self.rest[self.triangles][valid])
        return affines, valid

    def source_map(self, target_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Full-size (H, W) float32 maps of source x and y for the target control points."""
        target = np.asarray(target_points, dtype=np.float64)
        affines, valid = self._affines(target)
        ids = self._ids
        ids.fill(0)
        scale = (1 << SUBPIXEL_SHIFT) / self.stride
        coarse = np.round((target + 0.5) * scale - (1 << SUBPIXEL_SHIFT) * 0.5).astype(np.int32)
        corners = coarse[self.triangles]  # (M, 3, 2) fixed-point vertices
        fill, line = cv2.fillConvexPoly, cv2.LINE_8
        for k in np.flatnonzero(valid).tolist():
            fill(ids, corners[k], k + 1, line, SUBPIXEL_SHIFT)
        # Row 0: pixels no triangle covers keep their place (identity).
        table = np.concatenate([np.array([[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]]), affines]).reshape(-1, 6)
        coeffs = table[ids.ravel()]  # (P, 6): rows of the 3x2 affine
        grid_x, grid_y = self._grid[:, 0], self._grid[:, 1]
        shift_x = (grid_x * (coeffs[:, 0] - 1.0) + grid_y * coeffs[:, 2] + coeffs[:, 4]).reshape(self._coarse_hw)
        shift_y = (grid_x * coeffs[:, 1] + grid_y * (coeffs[:, 3] - 1.0) + coeffs[:, 5]).reshape(self._coarse_hw)
        if self.smooth_sigma > 0:
            shift_x, shift_y = self._smooth(shift_x, shift_y, ids, coarse)
        # The displacement is upsampled, not the coordinates: it is zero at the fixed border, so
        # cv2.resize's clamping at the edges costs nothing, and no motion is exactly the identity.
        size = (self.width, self.height)
        map_x = cv2.resize(shift_x.astype(np.float32), size, interpolation=cv2.INTER_LINEAR) + self._full_x
        map_y = cv2.resize(shift_y.astype(np.float32), size, interpolation=cv2.INTER_LINEAR) + self._full_y
        return map_x, map_y

    def _smooth(self, shift_x: np.ndarray, shift_y: np.ndarray, ids: np.ndarray,
                coarse_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Blend the smoothed skin displacement with the exact one inside the exact regions."""
        skin = ((ids == 0) | (ids > self.n_first)).astype(np.float32)
        blur = {"ksize": (0, 0), "sigmaX": self.smooth_sigma, "borderType": cv2.BORDER_REPLICATE}
        weight = cv2.GaussianBlur(skin, **blur) + 1e-6
        smooth_x = cv2.GaussianBlur((shift_x * skin).astype(np.float32), **blur) / weight
        smooth_y = cv2.GaussianBlur((shift_y * skin).astype(np.float32), **blur) / weight
        exact = np.zeros(self._coarse_hw, np.float32)
        for rows, radius in self.exact_regions:
            region = np.zeros(self._coarse_hw, np.uint8)
            cv2.fillPoly(region, [coarse_points[rows]], 1, lineType=cv2.LINE_8, shift=SUBPIXEL_SHIFT)
            if radius >= 1:
                kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * int(radius) + 1,) * 2)
                region = cv2.dilate(region, kernel)
            exact = np.maximum(exact, region.astype(np.float32))
        feather = max(self.smooth_sigma / 2, 0.5)
        exact = np.clip(cv2.GaussianBlur(exact, (0, 0), feather, borderType=cv2.BORDER_REPLICATE) * 1.5, 0.0, 1.0)
        return exact * shift_x + (1 - exact) * smooth_x, exact * shift_y + (1 - exact) * smooth_y

    def warp(self, target_points: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8: the photo warped so that its control points move to ``target_points``."""
        map_x, map_y = self.source_map(target_points)
        return cv2.remap(self.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
