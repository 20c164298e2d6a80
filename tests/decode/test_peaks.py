"""Peak detection, Gaussian refinement and duplicate suppression."""

import numpy as np
import pytest

from poseforge.decode.peaks import fit_gaussian_peaks, local_maxima, suppress_close


def _gaussian(h: int, w: int, cx: float, cy: float, sigma: float = 0.875) -> np.ndarray:
    """A Gaussian blob sampled at index coordinates (what the network is trained to output)."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2)).astype(np.float32)


def test_local_maxima_threshold_and_neighbours() -> None:
    maps = np.zeros((2, 5, 6), dtype=np.float32)
    maps[0, 2, 3] = 0.5  # a peak
    maps[0, 2, 4] = 0.4  # its lower neighbour: not a peak
    maps[0, 0, 0] = 0.3  # a corner peak (outside counts as zero)
    maps[1, 4, 5] = 0.09  # below the 0.1 threshold
    maps[1, 1, 1] = 0.1  # exactly at the threshold: kept, as upstream (< 0.1 is zeroed)
    kind, row, col = local_maxima(maps, 0.1)
    assert list(zip(kind.tolist(), row.tolist(), col.tolist(), strict=True)) == [
        (0, 0, 0),
        (0, 2, 3),
        (1, 1, 1),
    ]


def test_local_maxima_flat_top_gives_exactly_one_peak() -> None:
    maps = np.zeros((1, 4, 5), dtype=np.float32)
    maps[0, 1:3, 1:3] = 0.7  # a 2x2 plateau: upstream's strict test would find nothing
    _, row, col = local_maxima(maps, 0.1)
    assert (row.tolist(), col.tolist()) == ([2], [2])
    one = np.full((1, 1, 1), 0.5, dtype=np.float32)
    assert [a.tolist() for a in local_maxima(one, 0.1)] == [[0], [0], [0]]


@pytest.mark.parametrize("shape", [(3, 7, 9), (2, 1, 6), (2, 5, 1), (1, 1, 1)])
def test_local_maxima_match_their_definition_at_every_sample(shape: tuple[int, int, int]) -> None:
    """Ties everywhere (4 levels), the borders included: each sample judged on its own."""
    maps = np.random.default_rng(sum(shape)).integers(0, 4, shape).astype(np.float32) / 4
    _, h, w = shape
    expected = []
    for k, r, c in np.ndindex(*shape):
        v = maps[k, r, c]
        if v >= 0.25 and (c == 0 or v >= maps[k, r, c - 1]) and (c == w - 1 or v > maps[k, r, c + 1]) and (
            r == 0 or v >= maps[k, r - 1, c]) and (r == h - 1 or v > maps[k, r + 1, c]):  # fmt: skip
            expected.append((k, r, c))
    found = list(zip(*(a.tolist() for a in local_maxima(maps, 0.25)), strict=True))
    assert found == expected and (len(expected) > 0 or shape == (1, 1, 1))


@pytest.mark.parametrize(("cx", "cy"), [(5.0, 4.0), (5.3, 3.71), (4.52, 4.49), (0.2, 3.3), (-0.3, 0.4), (9.45, 7.2)])
def test_gaussian_fit_is_exact_inside_and_at_the_border(cx: float, cy: float) -> None:
    maps = _gaussian(8, 10, cx, cy)[None]
    # Start from a detection up to half a sample off, as an upsampled map's peak would be.
    x0 = np.clip(np.array([np.round(cx * 2) / 2]), 0, 9)
    y0 = np.clip(np.array([np.round(cy * 2) / 2]), 0, 7)
    x, y = fit_gaussian_peaks(maps, np.array([0]), x0, y0, max_shift=1.0)
    assert x[0] == pytest.approx(cx, abs=1e-4)
    assert y[0] == pytest.approx(cy, abs=1e-4)


def test_gaussian_fit_keeps_the_detection_when_the_fit_strays() -> None:
    maps = _gaussian(8, 10, 5.0, 4.0)[None]
    # A detection 0.5 away from the blob centre, with a tight guard: the fit (0.5 away) is refused.
    x, y = fit_gaussian_peaks(maps, np.array([0]), np.array([5.5]), np.array([4.0]), max_shift=0.25)
    assert (x[0], y[0]) == (5.5, 4.0)


def test_gaussian_fit_on_tiny_maps_keeps_positions() -> None:
    maps = np.full((1, 1, 2), 0.5, dtype=np.float32)
    x, y = fit_gaussian_peaks(maps, np.array([0]), np.array([1.0]), np.array([0.0]), max_shift=1.0)
    assert (x[0], y[0]) == (1.0, 0.0)


def test_suppress_close_keeps_the_strongest() -> None:
    xy = np.array([[0.0, 0.0], [3.0, 0.0], [5.0, 0.0], [20.0, 0.0]])
    score = np.array([0.5, 0.9, 0.6, 0.1])
    kept = suppress_close(xy, score, radius=6.0)
    # 1 (0.9) beats 0 and 2 (both within 6); 3 is far away.
    assert kept.tolist() == [1, 3]
    assert suppress_close(xy, score, radius=0.0).tolist() == [1, 2, 0, 3]
    assert suppress_close(xy[:0], score[:0], radius=6.0).tolist() == []


def greedy_suppression(xy: np.ndarray, score: np.ndarray, radius: float, kind: np.ndarray) -> list[int]:
    """The rule written out: by type, strongest first, a peak is kept unless a kept one of its
    type lies closer than radius."""
    kept: list[int] = []
    for i in np.lexsort((-score, kind)).tolist():
        if all(kind[j] != kind[i] or np.hypot(*(xy[i] - xy[j])) >= radius for j in kept):
            kept.append(i)
    return kept


def test_suppress_close_keeps_each_type_apart() -> None:
    # Many types tested together, over several chunks of SUPPRESS_PAIRS pairs: the rule itself.
    from poseforge.decode.peaks import SUPPRESS_PAIRS

    rng = np.random.default_rng(1)
    kind = np.sort(rng.integers(0, 5, size=2000))
    assert sum(np.count_nonzero(kind == k) ** 2 / 2 for k in range(5)) > 4 * SUPPRESS_PAIRS
    xy = rng.uniform(0, 60, size=(len(kind), 2))
    score = rng.uniform(0, 1, size=len(kind))
    kept = suppress_close(xy, score, 3.0, kind)
    assert kept.tolist() == greedy_suppression(xy, score, 3.0, kind)
    assert 0 < len(kept) < len(kind)  # some suppressed, none across types
    assert suppress_close(np.zeros((2, 2)), np.ones(2), 3.0, np.array([0, 1])).tolist() == [0, 1]
