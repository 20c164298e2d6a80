"""Keypoint candidates: local maxima of the heatmaps, refined below the sample spacing."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_LOG_FLOOR = 1e-6  # keeps log() finite when a neighbour is zero or negative
# Peaks tested against their types' peaks at a time in suppress_close: with at most 8 * 128
# peaks of a type, a block's distances stay within a few MB.
SUPPRESS_ROWS = 256


def local_maxima(maps: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(channel, row, col) of samples >= threshold that top their 4 neighbours.

    Upstream requires strictly greater; here a tie with the left or upper neighbour is
    allowed, so a flat top (an upsampled 1x1 map, a quantised network's saturated peak)
    yields exactly one peak, its last sample, instead of none. Outside the map counts as
    zero, as in upstream's zero padding: a sample that passes the threshold beats it.
    Ordered by channel, then row, then column.
    """
    _, h, w = maps.shape
    flat = maps.reshape(-1)
    # Only the few samples above the threshold can be peaks: compare just those.
    index = np.flatnonzero(flat >= threshold)
    value = flat[index]
    col = index % w
    row = (index // w) % h
    peak = np.ones(len(index), dtype=bool)
    for inside, step, tie_ok in (
        (col > 0, -1, True),  # left
        (col < w - 1, 1, False),  # right
        (row > 0, -w, True),  # above
        (row < h - 1, w, False),  # below
    ):
        neighbour = flat[index[inside] + step]
        peak[inside] &= (value[inside] >= neighbour) if tie_ok else (value[inside] > neighbour)
    index = index[peak]
    return index // (h * w), row[peak], col[peak]


def _vertex(lo: np.ndarray, mid: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Vertex of the parabola through (-1, lo), (0, mid), (1, hi); NaN if it has no maximum."""
    curvature = lo - 2 * mid + hi
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = 0.5 * (lo - hi) / curvature
    return np.where(curvature < 0, offset, np.nan)


def _fit_axis(sample: Callable[[np.ndarray], np.ndarray], index: np.ndarray, size: int) -> np.ndarray:
    """Peak position along one axis from the log of 3 consecutive samples; NaN if no fit."""
    if size < 3:
        return np.full(index.shape, np.nan)
    # At the border take the 3 samples nearest to it: the vertex may then lie beyond the
    # last sample centre, which is where a keypoint at the very edge of the map really is.
    mid = np.clip(index, 1, size - 2)
    lo, centre, hi = (np.log(np.maximum(sample(mid + step), _LOG_FLOOR)) for step in (-1, 0, 1))
    return mid + _vertex(lo, centre, hi)


def fit_gaussian_peaks(
    maps: np.ndarray, channel: np.ndarray, x: np.ndarray, y: np.ndarray, max_shift: float
) -> tuple[np.ndarray, np.ndarray]:
    """Refine peak positions (index coordinates) on the network's own sample grid.

    The heatmaps are trained to be sampled Gaussians, and the log of a Gaussian is a
    parabola, so 3 samples per axis around the peak pin its centre exactly, with none of
    the bias an interpolated map adds. A fit that lands farther than max_shift from the
    detected position is describing a neighbouring blob (two peaks too close for the
    coarse grid): the detected position is kept.

    The upsampler replicates the border, so a detection beyond the outermost sample
    centre only says "at the border": it is first clipped to the span of the samples.
    """
    _, h, w = maps.shape
    x = np.clip(x, 0, w - 1)
    y = np.clip(y, 0, h - 1)
    col = np.rint(x).astype(np.int64)
    row = np.rint(y).astype(np.int64)
    fit_x = _fit_axis(lambda c: maps[channel, row, c], col, w)
    fit_y = _fit_axis(lambda r: maps[channel, r, col], row, h)
    with np.errstate(invalid="ignore"):  # NaN (no fit) compares False: keep the detection
        x = np.where(np.abs(fit_x - x) <= max_shift, fit_x, x)
        y = np.where(np.abs(fit_y - y) <= max_shift, fit_y, y)
    return x, y


def suppress_close(xy: np.ndarray, score: np.ndarray, radius: float, kind: np.ndarray | None = None) -> np.ndarray:
    """Indices of the peaks kept by greedy suppression within each keypoint type.

    The strongest peak wins; any weaker one of its type (`kind`; None: all one type) closer than
    `radius` to a kept one is dropped. Returned by type, then in descending score order. All
    types are tested together, SUPPRESS_ROWS peaks against their types' peaks at a time.
    """
    kind = np.zeros(len(score), dtype=np.int64) if kind is None else np.asarray(kind)
    order = np.lexsort((-score, kind))
    if len(order) < 2 or radius <= 0:
        return order
    pts, kinds = xy[order], kind[order]
    first, last = np.searchsorted(kinds, kinds, "left"), np.searchsorted(kinds, kinds, "right")
    keep = np.ones(len(order), dtype=bool)
    for top in range(0, len(order), SUPPRESS_ROWS):
        rows = np.arange(top, min(top + SUPPRESS_ROWS, len(order)))
        cols = np.arange(first[rows[0]], last[rows[-1]])  # the peaks of the rows' types
        dx, dy = (pts[rows, None, axis] - pts[None, cols, axis] for axis in (0, 1))  # not .sum(-1): slow on 2
        d2 = dx * dx + dy * dy
        close = (d2 < radius * radius) & (kinds[rows, None] == kinds[None, cols]) & (cols[None, :] > rows[:, None])
        for row in np.flatnonzero(close.any(axis=1)):  # usually none: peaks are a grid cell apart
            if keep[rows[row]]:
                keep[cols[close[row]]] = False
    return order[keep]


def rank_within(sorted_kind: np.ndarray) -> np.ndarray:
    """Each item's position among the items of its kind, for an array sorted by kind."""
    return np.arange(len(sorted_kind)) - np.searchsorted(sorted_kind, sorted_kind, "left")
