"""Limb scoring, greedy matching and assembly into people."""

import numpy as np
import pytest

from poseforge.decode.grouping import LOOP_CLOSING_LIMBS, assemble, match_limbs, score_limbs
from poseforge.keypoints import LIMBS

SAMPLES, MIN_SCORE, MIN_RATIO = 10, 0.05, 0.8


def score_limb(paf: np.ndarray, a: np.ndarray, b: np.ndarray, samples: int, min_score: float, min_ratio: float):
    """One limb whose (2, h, w) field is `paf`."""
    return score_limbs(paf, [((0, 1), a, b)], samples, min_score, min_ratio)[0]


def match_limb(affinity: np.ndarray, valid: np.ndarray):
    return match_limbs([(affinity, valid)])[0]


def _uniform_paf(h: int, w: int, direction: tuple[float, float]) -> np.ndarray:
    paf = np.zeros((2, h, w), dtype=np.float32)
    paf[0], paf[1] = direction
    return paf


def test_score_limb_along_against_and_across_the_field() -> None:
    paf = _uniform_paf(12, 12, (1.0, 0.0))
    a = np.array([[2.5, 5.5]])
    b = np.array([[9.5, 5.5], [2.5, 11.0], [0.5, 5.5]])  # along, across, against
    affinity, valid = score_limb(paf, a, b, SAMPLES, MIN_SCORE, MIN_RATIO)
    assert affinity.shape == valid.shape == (1, 3)
    assert affinity[0, 0] == pytest.approx(1.0, abs=1e-5)
    assert valid[0].tolist() == [True, False, False]


def test_score_limb_needs_more_than_80_percent_support() -> None:
    # The field covers the grid columns up to x_end only; a limb from x=0.5 to x=9.5 has its
    # 10 samples at x = 0.5, 1.5, ..., 9.5.
    for covered, expected in ((9, True), (8, False)):
        paf = np.zeros((2, 3, 10), dtype=np.float32)
        paf[0, :, :covered] = 1.0
        # Bilinear sampling at a sample centre reads exactly that sample.
        _, valid = score_limb(paf, np.array([[0.5, 1.5]]), np.array([[9.5, 1.5]]), 10, MIN_SCORE, MIN_RATIO)
        assert valid[0, 0] == expected, covered


@pytest.mark.parametrize("min_ratio", [0.6, 0.8])  # pruned by one stage of probes, by two
def test_score_limb_pruning_does_not_change_results(min_ratio: float) -> None:
    rng = np.random.default_rng(3)
    paf = rng.uniform(-0.3, 1.0, size=(2, 20, 30)).astype(np.float32)
    a = rng.uniform(0, 30, size=(12, 2)) * [1, 20 / 30]
    b = rng.uniform(0, 30, size=(15, 2)) * [1, 20 / 30]
    affinity, valid = score_limb(paf, a, b, SAMPLES, MIN_SCORE, min_ratio)
    # Brute force, pair by pair, without any pruning.
    from poseforge.decode.resample import sample_bilinear

    for i in range(len(a)):
        for j in range(len(b)):
            t = np.linspace(0, 1, SAMPLES)[:, None]
            pts = a[i] + t * (b[j] - a[i])
            field = sample_bilinear(paf, pts[:, 0] - 0.5, pts[:, 1] - 0.5)
            unit = (b[j] - a[i]) / (np.linalg.norm(b[j] - a[i]) + 1e-6)
            dots = field[0] * unit[0] + field[1] * unit[1]
            ok = dots > MIN_SCORE
            aff = dots[ok].sum() / (ok.sum() + 1e-6)
            expect = aff > 0 and ok.sum() / SAMPLES > min_ratio
            assert valid[i, j] == expect
            if expect:
                assert affinity[i, j] == pytest.approx(aff, abs=1e-5)
    assert valid.any() and not valid.all()


def test_score_limbs_scores_each_limb_on_its_own() -> None:
    rng = np.random.default_rng(4)
    pafs = rng.uniform(-0.3, 1.0, size=(6, 20, 30)).astype(np.float32)
    limbs = [((2 * k, 2 * k + 1), rng.uniform(0, 20, size=(n, 2)), rng.uniform(0, 20, size=(m, 2)))
             for k, (n, m) in enumerate(((4, 6), (0, 3), (7, 5)))]  # fmt: skip
    together = score_limbs(pafs, limbs, SAMPLES, MIN_SCORE, 0.5)
    for (channels, a, b), (affinity, valid) in zip(limbs, together, strict=True):
        alone = score_limb(pafs[list(channels)], a, b, SAMPLES, MIN_SCORE, 0.5)
        np.testing.assert_array_equal(affinity, alone[0])
        np.testing.assert_array_equal(valid, alone[1])
    assert together[1][0].shape == (0, 3) and together[2][1].any()


def test_match_limb_is_greedy_one_to_one() -> None:
    affinity = np.array([[0.9, 0.85], [0.88, 0.3]])
    valid = np.ones_like(affinity, dtype=bool)
    a, b, score = match_limb(affinity, valid)
    # Greedy takes (0, 0) first, so (1, 1) is all that is left for a=1 (not the best total).
    assert list(zip(a.tolist(), b.tolist(), strict=True)) == [(0, 0), (1, 1)]
    np.testing.assert_allclose(score, [0.9, 0.3])
    a, b, _ = match_limb(affinity, np.array([[False, True], [True, False]]))
    assert sorted(zip(a.tolist(), b.tolist(), strict=True)) == [(0, 1), (1, 0)]


def test_loop_closing_limbs_are_the_shoulder_to_ear_ones() -> None:
    assert sorted(LOOP_CLOSING_LIMBS) == [17, 18]
    assert [LIMBS[i] for i in sorted(LOOP_CLOSING_LIMBS)] == [(2, 16), (5, 17)]


def _connections(pairs: dict[int, list[tuple[int, int, float]]]) -> list:
    out = []
    for limb in range(len(LIMBS)):
        rows = pairs.get(limb, [])
        out.append(
            (
                np.array([r[0] for r in rows], dtype=np.int64),
                np.array([r[1] for r in rows], dtype=np.int64),
                np.array([r[2] for r in rows]),
            )
        )
    return out


def test_assemble_grows_people_and_closes_loops_without_scoring() -> None:
    # Keypoint ids: 0 neck, 1 r_sho, 2 r_elb, 3 l_sho, 4 r_ear (held by nobody yet),
    # 5 r_hip, 6 r_knee (a fragment whose hip is not joined to the neck).
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    people = assemble(
        _connections(
            {
                0: [(0, 1, 0.9)],  # neck -> r_sho: new person
                1: [(0, 3, 0.8)],  # neck -> l_sho
                2: [(1, 2, 0.7)],  # r_sho -> r_elb
                7: [(5, 6, 0.6)],  # r_hip -> r_knee: nobody holds r_hip, a new person
                17: [(1, 4, 0.5)],  # r_sho -> r_ear: fills the ear, no score or count
            }
        ),
        score,
    )
    assert len(people.ids) == 2
    first = people.ids[0]
    assert (first[1], first[2], first[3], first[5], first[16]) == (0, 1, 2, 3, 4)
    assert people.count[0] == 4
    assert people.score[0] == pytest.approx(0.9 + 0.8 + 0.9 + 0.6 + 0.8 + 0.7 + 0.7)
    assert (people.ids[1][8], people.ids[1][9], people.count[1]) == (5, 6, 2)
    assert people.score[1] == pytest.approx(0.4 + 0.3 + 0.6)


def test_assemble_loop_closing_fills_the_other_end_too() -> None:
    # A head fragment holding r_ear (id 2) through nose -> r_eye -> r_ear; limb 17 then
    # gives it the r_sho (id 1) it lacks.
    people = assemble(
        _connections({13: [(0, 5, 1.0)], 14: [(5, 2, 1.0)], 17: [(1, 2, 1.0)]}),
        np.ones(6),
    )
    assert len(people.ids) == 1
    assert people.ids[0][2] == 1 and people.ids[0][16] == 2
    assert people.count[0] == 3


def test_assemble_nothing() -> None:
    people = assemble(_connections({}), np.zeros(0))
    assert people.ids.shape == (0, 18) and people.score.shape == (0,) and people.count.shape == (0,)


def test_match_limbs_matches_each_limb_on_its_own() -> None:
    def greedy(affinity: np.ndarray, valid: np.ndarray) -> list[tuple[int, int]]:
        pairs = sorted(zip(*np.nonzero(valid), strict=True), key=lambda p: -affinity[p])
        used_a, used_b, kept = set(), set(), []
        for i, j in pairs:
            if i not in used_a and j not in used_b:
                used_a.add(i), used_b.add(j), kept.append((int(i), int(j)))
        return kept

    rng = np.random.default_rng(2)
    scored = [(rng.uniform(0, 1, (n, m)), rng.uniform(0, 1, (n, m)) > 0.3) for n, m in ((4, 6), (0, 3), (5, 5), (7, 2))]
    together = match_limbs(scored)
    for (affinity, valid), (a, b, score) in zip(scored, together, strict=True):
        assert list(zip(a.tolist(), b.tolist(), strict=True)) == greedy(affinity, valid)
        np.testing.assert_array_equal(score, affinity[a, b])
    assert sum(len(a) for a, _, _ in together) > 6
    assert match_limbs([]) == []
