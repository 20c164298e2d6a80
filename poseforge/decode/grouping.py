"""Grouping keypoint candidates into people with part affinity fields.

Each limb's candidate pairs are scored by sampling the limb's PAF along the segment,
matched greedily one-to-one, and the matches are grown into people from the neck outwards
in LIMBS order (the OpenPose / Lightweight OpenPose procedure).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from poseforge.keypoints import LIMBS, NUM_KEYPOINTS

from .resample import sample_bilinear

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


def _support(paf: np.ndarray, start: np.ndarray, vec: np.ndarray, unit: np.ndarray, t: np.ndarray) -> np.ndarray:
    """PAF . unit limb vector at the points start + t * vec: (P, 2) pairs x (s,) -> (P, s)."""
    points = (start[:, None, :] + t[None, :, None] * vec[:, None, :]).astype(np.float32)
    # Grid coordinate u is index coordinate u - 0.5 (sample j's centre is at j + 0.5).
    field = sample_bilinear(paf, points[..., 0] - 0.5, points[..., 1] - 0.5)  # (2, P, s)
    return field[0] * unit[:, None, 0] + field[1] * unit[:, None, 1]


def score_limb(
    paf: np.ndarray,
    a_xy: np.ndarray,
    b_xy: np.ndarray,
    samples: int,
    min_paf_score: float,
    min_success_ratio: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Affinity of every (a, b) candidate pair and whether the pair is a plausible limb.

    paf: (2, h, w) x and y fields; a_xy (n, 2), b_xy (m, 2) in grid coordinates (cells).
    Returns (affinity (n, m), valid (n, m)). The affinity is the mean of the PAF . unit
    vector products that exceed min_paf_score; a pair is valid if it is positive and more
    than min_success_ratio of the samples exceed min_paf_score. Pairs ruled out early
    (see below) are invalid and report affinity 0.
    """
    n, m = len(a_xy), len(b_xy)
    start = np.repeat(a_xy, m, axis=0).astype(np.float32)  # pair p = a index * m + b index
    vec = (b_xy[None, :, :] - a_xy[:, None, :]).reshape(-1, 2).astype(np.float32)
    unit = vec / (np.linalg.norm(vec, axis=-1, keepdims=True) + _NORM_EPS)
    t = np.linspace(0.0, 1.0, samples)
    affinity = np.zeros(n * m)
    valid = np.zeros(n * m, dtype=bool)
    needed = _samples_needed(samples, min_success_ratio)
    if needed > samples:
        return affinity.reshape(n, m), valid.reshape(n, m)

    # A pair with more than samples - needed unsupported samples cannot be valid, so probing
    # samples - needed + 1 spread-out samples first rules out most wrong pairs (their middle
    # runs off any limb) exactly, at a fraction of the cost of sampling them all.
    probes = samples - needed + 1
    alive = np.arange(n * m)
    if probes < samples - 1 and n * m > 1:
        probe_t = t[np.rint(np.linspace(0, samples - 1, probes + 2)[1:-1]).astype(np.int64)]
        supported = _support(paf, start, vec, unit, probe_t) > min_paf_score
        alive = np.flatnonzero(supported.any(axis=1))

    dots = _support(paf, start[alive], vec[alive], unit[alive], t)
    passed = dots > min_paf_score
    count = passed.sum(-1)
    affinity[alive] = np.where(passed, dots, 0.0).sum(-1) / (count + _COUNT_EPS)
    valid[alive] = (affinity[alive] > 0) & (count / samples > min_success_ratio)
    return affinity.reshape(n, m), valid.reshape(n, m)


def match_limb(affinity: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy one-to-one matching: best affinity first, each a and each b used once.

    Returns (a index, b index, affinity) of the accepted pairs, best first.
    """
    a_idx, b_idx = np.nonzero(valid)
    scores = affinity[a_idx, b_idx]
    order = np.argsort(-scores, kind="stable")
    used_a: set[int] = set()
    used_b: set[int] = set()
    keep = []
    for k in order.tolist():
        i, j = int(a_idx[k]), int(b_idx[k])
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            keep.append(k)
    keep_arr = np.asarray(keep, dtype=np.int64)
    return a_idx[keep_arr], b_idx[keep_arr], scores[keep_arr]


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
                score[person] += keypoint_score[kb] + aff
            if not holders:
                ids.append([-1] * NUM_KEYPOINTS)
                person = len(ids) - 1
                put(person, a_slot, ka)
                put(person, b_slot, kb)
                count.append(2)
                score.append(keypoint_score[ka] + keypoint_score[kb] + aff)
    return People(
        ids=np.asarray(ids, dtype=np.int64).reshape(-1, NUM_KEYPOINTS),
        score=np.asarray(score, dtype=np.float64),
        count=np.asarray(count, dtype=np.int64),
    )
