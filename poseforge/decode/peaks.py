"""Keypoint candidates: local maxima of the heatmaps, refined below the sample spacing."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_LOG_FLOOR = 1e-6  # keeps log() finite when a neighbour is zero or negative
# Same-type peak pairs measured at a time in suppress_close: a few MB of distances, however many
# peaks a map holds.
SUPPRESS_PAIRS = 1 << 16


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
        # Outside the map a sample is compared with itself: a tie passes, a strict test is waived.
        neighbour = flat[index + step * inside]
        peak &= (value >= neighbour) if tie_ok else (value > neighbour) | ~inside
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
    flat, base = maps.reshape(-1), channel * (h * w)  # 1-D gathers: cheaper than indexing 3 axes
    fit_x = _fit_axis(lambda c: flat[base + row * w + c], col, w)
    fit_y = _fit_axis(lambda r: flat[base + r * w + col], row, h)
    with np.errstate(invalid="ignore"):  # NaN (no fit) compares False: keep the detection
        x = np.where(np.abs(fit_x - x) <= max_shift, fit_x, x)
        y = np.where(np.abs(fit_y - y) <= max_shift, fit_y, y)
    return x, y


def suppress_close(xy: np.ndarray, score: np.ndarray, radius: float, kind: np.ndarray | None = None) -> np.ndarray:
    """Indices of the peaks kept by greedy suppression within each keypoint type.

    The strongest peak wins; any weaker one of its type (`kind`; None: all one type) closer than
    `radius` to a kept one is dropped. Returned by type, then in descending score order. Only
    pairs of one type are measured (a type has a few dozen peaks, a frame a few hundred), at
    most SUPPRESS_PAIRS at a time.
    """
    kind = np.zeros(len(score), dtype=np.int64) if kind is None else np.asarray(kind)
    order = np.lexsort((-score, kind))
    if len(order) < 2 or radius <= 0:
        return order
    pts, kinds = xy[order], kind[order]
    after = np.searchsorted(kinds, kinds, "right") - np.arange(1, len(order) + 1)  # weaker peaks of its type
    ends = np.cumsum(after)
    keep = np.ones(len(order), dtype=bool)
    top = 0
    while top < len(order):  # rows [top, stop) and all their weaker same-type peaks
        stop = max(top + 1, int(np.searchsorted(ends, ends[top] - after[top] + SUPPRESS_PAIRS, "right")))
        stop = min(stop, len(order))
        counts = after[top:stop]
        row = np.repeat(np.arange(top, stop), counts)
        col = row + 1 + np.arange(len(row)) - np.repeat(np.cumsum(counts) - counts, counts)
        dx, dy = pts[row, 0] - pts[col, 0], pts[row, 1] - pts[col, 1]
        close = np.flatnonzero(dx * dx + dy * dy < radius * radius)
        for pair in close.tolist():  # usually none: peaks are a grid cell apart; rows strongest first
            if keep[row[pair]]:
                keep[col[pair]] = False
        top = stop
    return order[keep]


def rank_within(sorted_kind: np.ndarray) -> np.ndarray:
    """Each item's position among the items of its kind, for an array sorted by kind."""
    return np.arange(len(sorted_kind)) - np.searchsorted(sorted_kind, sorted_kind, "left")
