"""Resampling on the network grid: bicubic upsampling and bilinear point sampling.

The bicubic upsampler reproduces cv2.resize(..., interpolation=INTER_CUBIC) for an integer
factor (pixel-centre alignment, Keys kernel with a = -0.75, replicated border) as two small
dense matrix products, which is cheap at network-output sizes. The decoder only uses it
when DecoderParams.upsample_factor > 1; PAF sampling is always bilinear on the grid.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

CUBIC_A = -0.75  # cv2's INTER_CUBIC kernel parameter


def cubic_weights(t: np.ndarray) -> np.ndarray:
    """Kernel weights for the 4 taps at offsets -1, 0, 1, 2 from floor(x); t = x - floor(x)."""
    t = np.asarray(t, dtype=np.float64)[..., None]
    d = np.abs(np.array([-1.0, 0.0, 1.0, 2.0]) - t)
    a = CUBIC_A
    near = ((a + 2) * d - (a + 3)) * d * d + 1  # |d| <= 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a  # 1 < |d| < 2
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


@lru_cache(maxsize=64)
def cubic_matrix(size: int, factor: int) -> np.ndarray:
    """(size * factor, size) float32 matrix that upsamples a length-`size` signal."""
    out = np.arange(size * factor)
    src = (out + 0.5) / factor - 0.5  # pixel-centre alignment
    base = np.floor(src).astype(np.int64)
    weights = cubic_weights(src - base)
    matrix = np.zeros((size * factor, size), dtype=np.float64)
    for tap in range(4):
        # Replicated border: taps outside the signal land on its first or last sample.
        cols = np.clip(base - 1 + tap, 0, size - 1)
        np.add.at(matrix, (out, cols), weights[:, tap])
    matrix = matrix.astype(np.float32)
    matrix.flags.writeable = False
    return matrix


def upsample_cubic(maps: np.ndarray, factor: int) -> np.ndarray:
    """Upsample (c, h, w) maps to (c, h * factor, w * factor) like cv2 INTER_CUBIC."""
    if factor == 1:
        return maps
    _, h, w = maps.shape
    rows = cubic_matrix(h, factor)
    cols = cubic_matrix(w, factor)
    return rows @ (maps @ cols.T)


def sample_bilinear(maps: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sample (c, h, w) maps at index coordinates (x, y) -> (c, *x.shape), in float32.

    Index coordinates put sample (i, j) at (j, i); points outside are clamped to the
    border, like a replicated border.
    """
    c, h, w = maps.shape
    offsets = (np.arange(c) * (h * w)).reshape(c, *([1] * np.ndim(x)))  # every point samples every map
    return sample_bilinear_at(np.ascontiguousarray(maps, dtype=np.float32).reshape(-1), (h, w), offsets, x, y)


def sample_bilinear_at(
    flat: np.ndarray, shape: tuple[int, int], offsets: np.ndarray, x: np.ndarray, y: np.ndarray
) -> np.ndarray:
    """Like sample_bilinear, with each point's own maps: `flat` holds (h, w) maps end to end
    (float32), offsets (k, *broadcastable to x.shape) where each of the k samples of a point
    starts in it. Returns (k, *x.shape)."""
    h, w = shape
    x = np.asarray(x, dtype=np.float32).clip(0, w - 1)  # the method: np.clip's wrapper costs more here
    y = np.asarray(y, dtype=np.float32).clip(0, h - 1)
    # The cell's top-left sample; at the last row / column the cell before it, weight 1.
    # All in float32 until the one cast to an index: mixed dtypes cost more than the math.
    x0 = np.minimum(np.floor(x), np.float32(max(w - 2, 0)))
    y0 = np.minimum(np.floor(y), np.float32(max(h - 2, 0)))
    fx, fy = x - x0, y - y0
    corner = (y0 * np.float32(w) + x0).astype(np.int64)  # exact below 2**24 samples
    step_x, step_y = (1 if w > 1 else 0), (w if h > 1 else 0)
    # Every map's samples in one pass: (k, *x.shape) indices into the 1-D `flat`, where NumPy's
    # fancy indexing is many times faster than on a multi-dimensional array.
    at = corner + offsets
    v00, v01, v10, v11 = flat[at], flat[at + step_x], flat[at + step_y], flat[at + (step_x + step_y)]
    top = v00 + (v01 - v00) * fx
    bottom = v10 + (v11 - v10) * fx
    return top + (bottom - top) * fy
