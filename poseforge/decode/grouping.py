"""Grouping keypoint candidates into people with part affinity fields.

Each limb's candidate pairs are scored by sampling the limb's PAF along the segment,
matched greedily one-to-one, and the matches are grown into people from the neck outwards
in LIMBS order (the OpenPose / Lightweight OpenPose procedure).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import numpy as np

from poseforge.keypoints import LIMBS, NUM_KEYPOINTS

from .resample import sample_bilinear_at

_NORM_EPS = 1e-6  # upstream's guard against zero-length candidate limbs
_COUNT_EPS = 1e-6  # upstream's guard against no valid sample


def _loop_closing_limbs() -> frozenset[int]:
    """Limbs whose end keypoint an earlier limb already reaches (the shoulder -> ear ones)."""
    reached: set[int] = set()
    closing = set()
    for index, (_, b) in enumerate(LIMBS):
        if b in reached:
            closing.add(index)
        reached.add(b)
    return frozenset(closing)


LOOP_CLOSING_LIMBS = _loop_closing_limbs()


def _samples_needed(samples: int, min_success_ratio: float) -> int:
    """Fewest supporting samples that make count / samples > min_success_ratio."""
    return next((c for c in range(samples + 1) if c / samples > min_success_ratio), samples + 1)


@lru_cache(maxsize=16)
def _probe_stages(samples: int, probes: int) -> tuple[np.ndarray, ...]:
    """Distinct sample indices probed before all of them are: two stages of `probes` spread-out
    ones where that leaves most samples unprobed, else one stage, else none. Cached: every
    frame asks for the same few."""
    if probes >= samples - 1:
        return ()
    if 2 * probes > samples // 2:
        stages = [np.unique(np.rint(np.linspace(0, samples - 1, probes + 2)[1:-1]).astype(np.int64))]
    else:
        spread = np.unique(np.rint(np.linspace(0, samples - 1, 2 * probes + 2)[1:-1]).astype(np.int64))
        first = spread[1::2]  # every other one: spread out on their own too
        stages = [first, np.setdiff1d(spread, first)[:probes]]
    for stage in stages:
        stage.flags.writeable = False
    return tuple(stages)


def _support(
    flat: np.ndarray, offsets: np.ndarray, shape: tuple[int, int], pairs: np.ndarray, t: np.ndarray
) -> np.ndarray:
    """PAF . unit limb vector at the points start + t * vec of each pair: (s samples, P pairs).

    `flat` holds every PAF channel end to end; offsets (2, P) say where each pair's x and y fields
    start in it, so the pairs of all limbs are sampled in one pass. pairs (6, P) holds the rows
    start x, start y, vec x, vec y, unit x, unit y. Pairs run along the last axis throughout:
    NumPy's loops over a short trailing axis (2 coordinates, 2 probes) cost several times their
    arithmetic.
    """
    # Grid coordinate u is index coordinate u - 0.5 (sample j's centre is at j + 0.5).
    x, y = ((pairs[axis] + t[:, None] * pairs[2 + axis]).astype(np.float32) - 0.5 for axis in (0, 1))
    fx, fy = sample_bilinear_at(flat, shape, offsets[:, None, :], x, y)
    return fx * pairs[4] + fy * pairs[5]


def score_limbs(
    pafs: np.ndarray,
    limbs: list[tuple[tuple[int, int], np.ndarray, np.ndarray]],
    samples: int,
    min_paf_score: float,
    min_success_ratio: float,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Affinity of every (a, b) candidate pair of each limb and whether the pair is a plausible limb.

    pafs: (c, h, w) fields; limbs: ((x channel, y channel), a_xy (n, 2), b_xy (m, 2)) per limb, in
    grid coordinates (cells). Returns (affinity (n, m), valid (n, m)) per limb. The affinity is
    the mean of the PAF . unit vector products that exceed min_paf_score; a pair is valid if it
    is positive and more than min_success_ratio of the samples exceed min_paf_score. Pairs ruled
    out early (see below) are invalid and report affinity 0. All limbs' pairs are scored
    together: per-limb NumPy calls on a few dozen pairs cost more than the arithmetic.
    """
    _, h, w = pafs.shape
    n, m = (np.array([len(limb[end]) for limb in limbs], dtype=np.int64) for end in (1, 2))
    sizes = n * m
    bounds = np.concatenate([[0], np.cumsum(sizes)])  # where each limb's pairs start and end
    total = int(bounds[-1])
    affinity = np.zeros(total)
    valid = np.zeros(total, dtype=bool)
    needed = _samples_needed(samples, min_success_ratio)
    if total and needed <= samples:
        flat = np.ascontiguousarray(pafs, dtype=np.float32).reshape(-1)
        # Pair p of a limb = a index * m + b index; every limb's pairs end to end.
        limb = np.repeat(np.arange(len(limbs)), sizes)
        ia, ib = np.divmod(np.arange(total) - np.repeat(bounds[:-1], sizes), m[limb])
        # Rows of x and y, gathered with take(): fancy indexing along an axis costs several times more.
        a_xy = np.ascontiguousarray(np.concatenate([a for _, a, _ in limbs]).T).take((np.cumsum(n) - n)[limb] + ia, 1)
        b_xy = np.ascontiguousarray(np.concatenate([b for _, _, b in limbs]).T).take((np.cumsum(m) - m)[limb] + ib, 1)
        start, vec = a_xy.astype(np.float32), (b_xy - a_xy).astype(np.float32)
        unit = vec / (np.sqrt(vec[0] * vec[0] + vec[1] * vec[1]) + _NORM_EPS)
        pairs = np.concatenate([start, vec, unit])  # (6, pairs): see _support
        offsets = (np.array([channels for channels, _, _ in limbs], dtype=np.int64).T * (h * w)).take(limb, 1)
        t = np.linspace(0.0, 1.0, samples)
        # A pair with more than samples - needed unsupported samples cannot be valid, so probing
        # spread-out samples first, samples - needed + 1 at a time, rules out most wrong pairs
        # (their middle runs off any limb) exactly, at a fraction of the cost of sampling them all.
        alive, failures = np.arange(total), np.zeros(total, dtype=np.int64)
        for probe in _probe_stages(samples, samples - needed + 1):
            failures += (_support(flat, offsets, (h, w), pairs, t[probe]) <= min_paf_score).sum(0)
            kept = np.flatnonzero(failures <= samples - needed)  # the survivors' rows only, from here on
            alive, failures, pairs, offsets = alive[kept], failures[kept], pairs.take(kept, 1), offsets.take(kept, 1)
        dots = _support(flat, offsets, (h, w), pairs, t).T  # (P, s): each pair's samples summed in a row
        passed = dots > min_paf_score
        count = passed.sum(-1)
        affinity[alive] = np.ascontiguousarray(np.where(passed, dots, 0.0)).sum(-1) / (count + _COUNT_EPS)
        valid[alive] = (affinity[alive] > 0) & (count / samples > min_success_ratio)
    return [
        (affinity[lo:hi].reshape(len(a_xy), len(b_xy)), valid[lo:hi].reshape(len(a_xy), len(b_xy)))
        for (lo, hi), (_, a_xy, b_xy) in zip(pairwise(bounds), limbs, strict=True)
    ]


def match_limbs(scored: list[tuple[np.ndarray, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Greedy one-to-one matching of each limb's (affinity, valid) pairs: best affinity first,
    each a and each b used once per limb. Returns each limb's (a index, b index, affinity) of
    the accepted pairs, best first. All limbs in one sort and one pass."""
    shapes = [affinity.shape for affinity, _ in scored]
    valid = np.concatenate([v.reshape(-1) for _, v in scored]) if scored else np.zeros(0, dtype=bool)
    affinity = np.concatenate([a.reshape(-1) for a, _ in scored]) if scored else np.zeros(0)
    pair_bounds = np.cumsum([0, *(n * m for n, m in shapes)])
    pair = np.flatnonzero(valid)
    limb = np.searchsorted(pair_bounds, pair, "right") - 1
    columns = np.array([m for _, m in shapes] or [1], dtype=np.int64)[limb]
    a_idx, b_idx = np.divmod(pair - pair_bounds[limb], columns)
    scores = affinity[pair]
    order = np.lexsort((-scores, limb))  # by limb, best first (ties: first pair first)
    # Ids unique across limbs: limb l's a (or b) index i is l * width + i.
    width = max([max(n, m) for n, m in shapes] or [1])
    used_a: set[int] = set()
    used_b: set[int] = set()
    keep = []
    for k, key_a, key_b in zip(order.tolist(), (limb * width + a_idx)[order].tolist(),
                               (limb * width + b_idx)[order].tolist(), strict=True):  # fmt: skip
        if key_a not in used_a and key_b not in used_b:
            used_a.add(key_a)
            used_b.add(key_b)
            keep.append(k)
    kept = np.asarray(keep, dtype=np.int64)
    a_idx, b_idx, scores = a_idx[kept], b_idx[kept], scores[kept]  # gathered once, then sliced by limb
    bounds = np.searchsorted(limb[kept], np.arange(len(scored) + 1)).tolist()
    return [(a_idx[lo:hi], b_idx[lo:hi], scores[lo:hi]) for lo, hi in pairwise(bounds)]


@dataclass
class People:
    """Grouped people: keypoint ids per person, with upstream's score and keypoint count."""

    ids: np.ndarray  # (P, 18) int, index into the candidate list, -1 where missing
    score: np.ndarray  # (P,) sum of keypoint scores and limb affinities
    count: np.ndarray  # (P,) keypoints joined through tree limbs


def assemble(connections: list[tuple[np.ndarray, np.ndarray, np.ndarray]], keypoint_score: np.ndarray) -> People:
    """Grow people from each limb's accepted connections, in LIMBS order.

    connections[l] = (a ids, b ids, affinity) for limb l, ids into keypoint_score. A tree
    limb extends every person holding its a keypoint (adding the b score and the affinity)
    or starts a new person; a loop-closing limb only fills a missing end of a person that
    already holds the other end.
    """
    ids: list[list[int]] = []
    score: list[float] = []
    count: list[int] = []
    owners: dict[int, list[int]] = {}  # keypoint id -> people holding it
    peak = keypoint_score.tolist()  # Python floats: NumPy scalars cost more than the additions

    def put(person: int, slot: int, kpt: int) -> None:
        old = ids[person][slot]
        if old >= 0:
            owners[old].remove(person)
        ids[person][slot] = kpt
        owners.setdefault(kpt, []).append(person)

    for limb, (conn_a, conn_b, conn_aff) in enumerate(connections):
        a_slot, b_slot = LIMBS[limb]
        for ka, kb, aff in zip(conn_a.tolist(), conn_b.tolist(), conn_aff.tolist(), strict=True):
            if limb in LOOP_CLOSING_LIMBS:
                for person in list(owners.get(ka, ())):
                    if ids[person][b_slot] < 0:
                        put(person, b_slot, kb)
                for person in list(owners.get(kb, ())):
                    if ids[person][a_slot] < 0:
                        put(person, a_slot, ka)
                continue
            holders = list(owners.get(ka, ()))
            for person in holders:
                put(person, b_slot, kb)
                count[person] += 1
                score[person] += peak[kb] + aff
            if not holders:
                ids.append([-1] * NUM_KEYPOINTS)
                person = len(ids) - 1
                put(person, a_slot, ka)
                put(person, b_slot, kb)
                count.append(2)
                score.append(peak[ka] + peak[kb] + aff)
    return People(
        ids=np.asarray(ids, dtype=np.int64).reshape(-1, NUM_KEYPOINTS),
        score=np.asarray(score, dtype=np.float64),
        count=np.asarray(count, dtype=np.int64),
    )
