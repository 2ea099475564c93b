"""CPBD sharpness (Narvekar & Karam 2009), vectorised, identical to the `cpbd` package 1.0.7.

CPBD ("cumulative probability of blur detection") measures how many edges of an image a viewer would
*not* perceive as blurred. The reference implementation used by the talking-head field is the `cpbd`
package 1.0.7 (`cpbd.compute`), a Python port of the authors' MATLAB code. It loops over every pixel
in Python and takes 0.1-0.2 s per 256x256 frame; this module reproduces its algorithm step by step
with whole-array operations, so the result is the same number (an exact ratio of edge counts):

1. Canny edges (`skimage.feature.canny`, default parameters, on the float64 grey image) decide which
   64x64 blocks are "edge blocks" (more than 0.2% of their pixels are Canny edges). `canny_edges`
   runs scikit-image's own steps (the same scipy filters, its non-maximum suppression, hysteresis on
   8-connected segments, labelled by OpenCV) but computes the border-normalisation image once per frame
   size instead of once per frame; a test checks it is identical to `skimage.feature.canny`.
2. A vertical-edge Sobel filter (the Octave `edge(..., "sobel")` port of the package: normalised
   kernel, threshold ``2 * sqrt(mean(strength^2))`` on the squared response, simple thinning) gives
   the edge pixels whose widths are measured.
3. Marziliano edge width: at each Sobel edge pixel whose gradient angle (from ``np.gradient``)
   quantises to 0 or +-180 degrees, the width is the number of pixels along the row over which the
   intensity keeps rising/falling monotonically on each side (at most 101 per side) -- computed here
   from run lengths of the signs of the horizontal differences (binary search for the nearest sign
   break) instead of per-pixel walks, and the gradient only at the candidate pixels.
4. Per edge block: contrast = max - min of the block; just-noticeable width 5 if contrast <= 50
   else 3; probability of blur detection ``1 - exp(-(width / w_jnb) ** 3.6)``, binned in 1% bins.
5. CPBD = fraction of measured edges (in edge blocks) whose probability bin is <= 63%.

Quirks of the reference that are kept on purpose (so scores stay comparable with published tables):
only whole 64x64 blocks count (a 100x100 image uses one block), only horizontal widths are measured
(vertical gradient directions get width 0), a pixel with zero x-gradient gets angle 0, and an image
whose gradient angles are all zero scores 0.

Frames: uint8 grey (H, W), or RGB (H, W, 3) converted to grey like PIL's ``convert("L")`` (ITU-R
601-2 luma with PIL's integer rounding), which is how the package's own command line reads images.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import scipy.ndimage as ndi
from skimage.feature import canny as skimage_canny

try:  # scikit-image's Cython non-maximum suppression (what `canny` calls); fall back to `canny` itself
    from skimage.feature._canny_cy import _nonmaximum_suppression_bilinear
except ImportError:  # pragma: no cover - a scikit-image that moved it
    _nonmaximum_suppression_bilinear = None

# Constants of the reference implementation (cpbd/compute.py).
EDGE_BLOCK_THRESHOLD = 0.002  # fraction of Canny edge pixels that makes a block an edge block
BETA = 3.6  # slope of the psychometric function
BLOCK_SIZE = 64
MAX_WIDTH_STEPS = 100  # the reference walks at most 101 steps (margin 0..100) to each side
SHARP_BIN_LIMIT = 64  # CPBD sums the probability histogram over bins 0..63
LOW_CONTRAST_MAX = 50  # contrast <= 50 -> just-noticeable width 5, otherwise 3

# Vertical-edge Sobel kernel as the package builds it: skimage's HSOBEL_WEIGHTS normalised by the sum
# of absolute values, then transposed (every entry is a multiple of 1/8, so this is bit-identical).
_SOBEL_X_KERNEL = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]) / 8.0
# The package calls scipy's `convolve` (kernel flipped, 'reflect' borders); OpenCV's filter2D correlates,
# so it gets the flipped kernel. On integer grey levels every partial sum is an exact multiple of 1/8,
# so the result is bit-identical whatever the summation order.
_SOBEL_X_FLIPPED = np.ascontiguousarray(_SOBEL_X_KERNEL[::-1, ::-1])
CANNY_SIGMA = 1.0
CANNY_LOW, CANNY_HIGH = 0.1, 0.2  # skimage's defaults for float images (not rescaled to 0..255)


@functools.cache
def _canny_bleed_over(height: int, width: int) -> np.ndarray:
    """skimage's border normalisation: the Gaussian of an all-ones mask ('constant' mode) + eps."""
    ones = np.ones((height, width), dtype=np.float64)
    return ndi.gaussian_filter(ones, CANNY_SIGMA, mode="constant", cval=0.0, truncate=4.0) + np.finfo(np.float64).eps


@functools.cache
def _canny_inner_mask(height: int, width: int) -> np.ndarray:
    mask = np.ones((height, width), dtype=bool)
    mask[0, :] = mask[-1, :] = mask[:, 0] = mask[:, -1] = False
    return mask


def canny_edges(image: np.ndarray) -> np.ndarray:
    """``skimage.feature.canny(image)`` (sigma 1, default thresholds, no mask) for a float64 image."""
    if _nonmaximum_suppression_bilinear is None:
        return skimage_canny(image)
    height, width = image.shape
    smoothed = ndi.gaussian_filter(image, CANNY_SIGMA, mode="constant", cval=0.0, truncate=4.0)
    smoothed /= _canny_bleed_over(height, width)
    jsobel = ndi.sobel(smoothed, axis=1)
    isobel = ndi.sobel(smoothed, axis=0)
    magnitude = isobel * isobel
    magnitude += jsobel * jsobel
    np.sqrt(magnitude, out=magnitude)
    low_masked = _nonmaximum_suppression_bilinear(isobel, jsobel, magnitude, _canny_inner_mask(height, width),
                                                  CANNY_LOW)
    low_mask = low_masked > 0
    # Hysteresis: keep the 8-connected low-threshold segments that reach the high threshold somewhere.
    # skimage labels them with scipy's `label` (3x3 structure); OpenCV's 8-connected components are the
    # same segments under other numbers (2.5x faster), and only which segments are kept matters.
    count, labels = cv2.connectedComponents(low_mask.view(np.uint8), connectivity=8, ltype=cv2.CV_32S)
    if count == 1:  # background only
        return low_mask
    good = np.zeros(count, dtype=bool)
    good[labels[low_mask & (low_masked >= CANNY_HIGH)]] = True  # never label 0: strong pixels are low
    return good[labels]


class FrameFormatError(ValueError):
    """A frame passed to a metric has the wrong shape or dtype."""


def to_gray_uint8(frame: np.ndarray) -> np.ndarray:
    """Grey uint8 (H, W) from a uint8 grey or RGB/RGBA frame, exactly like PIL ``Image.convert("L")``."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise FrameFormatError(f"CPBD expects uint8 frames, got dtype {frame.dtype}")
    if frame.ndim == 2:
        return frame
    if frame.ndim == 3 and frame.shape[2] in (3, 4):
        rgb = frame[..., :3].astype(np.uint32)
        # PIL: L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16 (299/587/114 in 16-bit fixed point)
        luma = (rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16
        return luma.astype(np.uint8)
    raise FrameFormatError(f"CPBD expects a (H, W) or (H, W, 3) frame, got shape {frame.shape}")


def _sobel_vertical_edges(image: np.ndarray) -> np.ndarray:
    """Boolean edge map of the package's Octave-style Sobel (threshold + simple thinning)."""
    strength = np.square(cv2.filter2D(image, cv2.CV_64F, _SOBEL_X_FLIPPED, borderType=cv2.BORDER_REFLECT))
    threshold = 2.0 * np.sqrt(np.mean(strength))
    strength[strength <= threshold] = 0.0
    # Simple thinning: keep a pixel that is a strict local maximum horizontally or vertically
    # (neighbours outside the image count as 0).
    padded = np.zeros((strength.shape[0] + 2, strength.shape[1] + 2))  # np.pad, without its overhead
    padded[1:-1, 1:-1] = strength
    centre = padded[1:-1, 1:-1]
    horizontal_max = (centre > padded[1:-1, :-2]) & (centre > padded[1:-1, 2:])
    vertical_max = (centre > padded[:-2, 1:-1]) & (centre > padded[2:, 1:-1])
    return horizontal_max | vertical_max


def _run_lengths_at(condition: np.ndarray, ending_at: np.ndarray, starting_at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive True values of ``condition`` ending at each flat index in ``ending_at`` and starting at
    each one in ``starting_at``.

    ``condition`` must be False in its first and last column (so no run crosses a row). Each run is
    bounded by the nearest False entries, found by binary search in the sorted flat indices of the
    False entries: cost O(queries x log) instead of a running maximum over the whole image.
    """
    breaks = np.flatnonzero(~condition.ravel())
    before = breaks[np.searchsorted(breaks, ending_at, side="right") - 1]
    after = breaks[np.searchsorted(breaks, starting_at, side="left")]
    return ending_at - before, after - starting_at


def _marziliano_widths(sobel_edges: np.ndarray, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Measured edges as (rows, cols, widths), the non-zero entries of `cpbd.compute.marziliano_method`."""
    empty = np.zeros(0, dtype=np.int64)
    # Candidate pixels: Sobel edges away from the image border (the reference loops over 1..H-2, 1..W-2).
    rows, cols = np.nonzero(sobel_edges[1:-1, 1:-1])
    rows += 1
    cols += 1
    # np.gradient's interior values, (f[i + 1] - f[i - 1]) / 2, computed at the candidates only.
    gx = (image[rows, cols + 1] - image[rows, cols - 1]) / 2.0
    gy = (image[rows + 1, cols] - image[rows - 1, cols]) / 2.0
    # The reference sets the angle to atan2(gy, gx) where gx != 0, to 90 where gx == 0 and gy == pi/2, and
    # to 0 elsewhere; if every angle of the image is 0 it measures nothing. atan2 is non-zero iff gy != 0
    # or gx < 0. A candidate with a non-zero angle settles that; otherwise the whole image is checked.
    nonzero_angle = (gx != 0) & ((gy != 0) | (gx < 0))
    if not np.any(nonzero_angle | ((gx == 0) & (gy == np.pi / 2))):
        gradient_y, gradient_x = np.gradient(image)
        any_angle = np.any((gradient_x != 0) & ((gradient_y != 0) | (gradient_x < 0)))
        if not (any_angle or np.any((gradient_x == 0) & (gradient_y == np.pi / 2))):
            return empty, empty, empty

    angles = np.where(gx != 0, np.arctan2(gy, gx) * (180.0 / np.pi), 0.0)
    angles[(gx == 0) & (gy == np.pi / 2)] = 90.0
    quantised = 45.0 * np.round(angles / 45.0)
    is_180 = (quantised == 180.0) | (quantised == -180.0)  # intensity falls left-to-right across the edge
    is_0 = quantised == 0.0  # intensity rises left-to-right across the edge
    keep = is_180 | is_0
    rows, cols, is_180 = rows[keep], cols[keep], is_180[keep]

    # diff[:, c] = image[:, c + 1] - image[:, c], c = 0..W-2. From an edge at column col the reference
    # walks left over diff[col-2-k] and right over diff[col+1+k] (k = 0, 1, ...) while the sign holds.
    # Two columns of False padded on each side stop the walk at the image border; with that padding
    # the left run for column col sits at padded index col, the right run at padded index col + 3.
    diff = image[:, 1:] - image[:, :-1]
    no_step = np.zeros((image.shape[0], 2), dtype=bool)
    padded_width = diff.shape[1] + 4
    left = np.empty(rows.size, dtype=np.int64)
    right = np.empty(rows.size, dtype=np.int64)
    for walks_down, direction in ((True, diff < 0), (False, diff > 0)):
        chosen = is_180 == walks_down
        condition = np.concatenate([no_step, direction, no_step], axis=1)
        left_at = rows[chosen] * padded_width + cols[chosen]
        left[chosen], right[chosen] = _run_lengths_at(condition, left_at, left_at + 3)
    # Each side walks at most MAX_WIDTH_STEPS + 1 steps and counts the edge pixel's neighbour.
    widths = np.minimum(left, MAX_WIDTH_STEPS) + 1 + np.minimum(right, MAX_WIDTH_STEPS) + 1
    return rows, cols, widths


def _blur_bins(widths: np.ndarray, just_noticeable_width: np.ndarray) -> np.ndarray:
    """Bin index (0..100) of the probability of blur detection, as ``int(round(p * 100))``."""
    probability = 1.0 - np.exp(-(np.abs(widths / just_noticeable_width) ** BETA))
    return np.rint(probability * 100.0).astype(np.int64)  # rint = round-half-even, as Python's round()


def cpbd_frame(frame: np.ndarray) -> float:
    """CPBD of one uint8 frame (grey (H, W) or RGB (H, W, 3)); 0.0 if it has no measurable edge block."""
    gray = to_gray_uint8(frame)
    image = gray.astype(np.float64)
    n_rows, n_cols = image.shape[0] // BLOCK_SIZE, image.shape[1] // BLOCK_SIZE
    if n_rows == 0 or n_cols == 0:
        return 0.0
    # Per 64x64 block (only whole blocks, as the reference): Canny edge count and grey-level contrast.
    crop = (slice(0, n_rows * BLOCK_SIZE), slice(0, n_cols * BLOCK_SIZE))
    canny_blocks = canny_edges(image)[crop].reshape(n_rows, BLOCK_SIZE, n_cols, BLOCK_SIZE)
    is_edge_block = canny_blocks.sum(axis=(1, 3)) > BLOCK_SIZE * BLOCK_SIZE * EDGE_BLOCK_THRESHOLD
    gray_blocks = gray[crop].reshape(n_rows, BLOCK_SIZE, n_cols, BLOCK_SIZE)
    contrast = gray_blocks.max(axis=(1, 3)).astype(np.int64) - gray_blocks.min(axis=(1, 3))
    jnb_per_block = np.where(contrast <= LOW_CONTRAST_MAX, 5.0, 3.0)

    rows, cols, widths = _marziliano_widths(_sobel_vertical_edges(image), image)
    block_row, block_col = rows // BLOCK_SIZE, cols // BLOCK_SIZE
    inside = (block_row < n_rows) & (block_col < n_cols)
    block_row, block_col, widths = block_row[inside], block_col[inside], widths[inside]
    counted = is_edge_block[block_row, block_col]
    n_edges = int(np.count_nonzero(counted))
    if n_edges == 0:
        return 0.0
    jnb = jnb_per_block[block_row[counted], block_col[counted]]
    bins = _blur_bins(widths[counted].astype(np.float64), jnb)
    return float(np.count_nonzero(bins < SHARP_BIN_LIMIT) / n_edges)


def cpbd_video(frames: np.ndarray) -> float:
    """Mean CPBD over the frames of a video (T, H, W[, 3]) uint8."""
    frames = np.asarray(frames)
    if frames.ndim not in (3, 4) or frames.shape[0] == 0:
        raise FrameFormatError(f"cpbd_video expects a non-empty (T, H, W[, 3]) array, got shape {frames.shape}")
    return float(np.mean([cpbd_frame(frame) for frame in frames]))
