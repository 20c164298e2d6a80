"""PoseSmoother: the One-Euro filter (Casiez et al. 2012) on tracked keypoints.

Checked against the paper's algorithm written out for one scalar, then on decoded sequences:
a still scene whose maps are noisy in every frame (jitter with and without the filter) and a
person walking at constant speed (the lag the filter costs). Run with -s to see the figures.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from poseforge.decode import Poses
from poseforge.deploy.smoothing import OneEuroParams, PoseSmoother, smoothing_factor
from poseforge.deploy.tracking import PoseTracker
from poseforge.keypoints import NUM_KEYPOINTS
from tests.deploy.test_tracking import decode_frame, in_view, pose_shape, truth_keypoints

FPS = 30.0


class PaperOneEuro:
    """The 1 Euro filter for one scalar as the paper's Algorithm 1 states it (the reference)."""

    def __init__(self, params: OneEuroParams) -> None:
        self.params = params
        self.previous: float | None = None  # the last filtered value
        self.speed = 0.0  # the last filtered derivative

    @staticmethod
    def alpha(cutoff: float, te: float) -> float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / te)

    def __call__(self, x: float, te: float) -> float:
        if self.previous is None:
            self.previous, self.speed = x, 0.0
            return x
        dx = (x - self.previous) / te
        self.speed += self.alpha(self.params.d_cutoff, te) * (dx - self.speed)
        cutoff = self.params.min_cutoff + self.params.beta * abs(self.speed)
        self.previous += self.alpha(cutoff, te) * (x - self.previous)
        return self.previous


def test_defaults_are_upstreams() -> None:
    assert OneEuroParams() == OneEuroParams(freq=15.0, min_cutoff=1.0, beta=0.05, d_cutoff=1.0)
    assert PoseSmoother(beta=0.1).params == OneEuroParams(beta=0.1)
    assert smoothing_factor(1.0, 1 / 15) == pytest.approx(PaperOneEuro.alpha(1.0, 1 / 15), rel=1e-12)


def test_every_coordinate_is_the_papers_filter_restarted_when_its_keypoint_was_missing() -> None:
    """Random walks of 4 tracks over 60 frames at irregular times, keypoints and whole tracks
    dropping out at random: each output coordinate equals a scalar paper filter that lives
    while its keypoint is seen in consecutive frames of its track."""
    rng = np.random.default_rng(11)
    params = OneEuroParams(freq=30.0, min_cutoff=0.7, beta=0.02, d_cutoff=1.3)
    smoother = PoseSmoother(params)
    reference: dict[tuple[int, int, int], PaperOneEuro] = {}
    positions = rng.uniform(0, 500, (4, NUM_KEYPOINTS, 2))
    previous_present: dict[int, np.ndarray] = {}
    time, restarts, continued = 0.0, 0, 0
    for _ in range(60):
        te = float(rng.uniform(0.02, 0.08))
        time += te
        positions += rng.normal(0, 3, positions.shape) + rng.normal(0, 30, (4, 1, 1)) * (rng.random((4, 1, 1)) < 0.1)
        tracks = [int(t) for t in rng.permutation(4) if rng.random() < 0.8]
        keypoints = np.zeros((len(tracks), NUM_KEYPOINTS, 3))
        for row, t in enumerate(tracks):
            present = rng.random(NUM_KEYPOINTS) < 0.85
            keypoints[row, present, :2] = positions[t, present]
            keypoints[row, present, 2] = rng.uniform(0.1, 1.0, present.sum())
        out = smoother(keypoints, np.array(tracks), time)
        now_present = {}
        for row, t in enumerate(tracks):
            present = keypoints[row, :, 2] > 0
            now_present[t] = present
            for k in range(NUM_KEYPOINTS):
                if not present[k]:
                    assert (out[row, k] == 0).all()
                    continue
                if not previous_present.get(t, np.zeros(NUM_KEYPOINTS, bool))[k]:
                    reference[t, k, 0], reference[t, k, 1] = PaperOneEuro(params), PaperOneEuro(params)
                    restarts += 1
                else:
                    continued += 1
                for c in (0, 1):
                    expected = reference[t, k, c](float(keypoints[row, k, c]), te)
                    assert out[row, k, c] == pytest.approx(expected, rel=1e-12, abs=1e-9)
                assert out[row, k, 2] == keypoints[row, k, 2]
        previous_present = now_present
    assert restarts > 100 and continued > 1000  # both paths were exercised


def one_person(x: float = 100.0) -> np.ndarray:
    keypoints = truth_keypoints([pose_shape(1, 200, x, 80)])
    keypoints[0, 5:8] = 0  # a missing arm
    return keypoints


def shift(keypoints: np.ndarray, d: float) -> np.ndarray:
    """The found keypoints moved by (d, d); missing ones stay (0, 0, 0)."""
    out = keypoints.copy()
    out[..., :2] += d * (keypoints[..., 2:] > 0)
    return out


def test_first_frame_and_still_keypoints_pass_through_unchanged() -> None:
    smoother = PoseSmoother()
    keypoints = one_person()
    for _ in range(5):
        np.testing.assert_array_equal(smoother(keypoints, [7]), keypoints)


def test_a_missing_keypoint_stays_zero_and_restarts_when_it_returns() -> None:
    smoother = PoseSmoother()
    frames = [one_person(100 + 10 * t) for t in range(8)]
    outputs = [smoother(f, [0], t / FPS) for t, f in enumerate(frames[:5])]
    assert outputs[4][0, 0, 0] < frames[4][0, 0, 0] - 1  # moving: the filter lags
    gone = frames[5].copy()
    gone[0, 0] = 0  # the nose is missed in frame 5
    assert (smoother(gone, [0], 5 / FPS)[0, 0] == 0).all()
    back = smoother(frames[6], [0], 6 / FPS)
    assert back[0, 0, 0] == frames[6][0, 0, 0]  # restarted from its measurement
    assert back[0, 1, 0] < frames[6][0, 1, 0] - 1  # the neck's filter went on


def test_state_is_kept_for_the_last_frames_tracks_only() -> None:
    """A person missing from a frame restarts like a missing keypoint, so a track the tracker
    dropped (missing for max_age frames) has long been forgotten: the state cannot grow."""
    smoother = PoseSmoother()
    a, b = one_person(100), one_person(400)
    smoother(np.concatenate([a, b]), [0, 1], 0.0)
    smoother(shift(np.concatenate([a, b]), 5), [0, 1], 0.1)
    assert len(smoother) == 2
    out = smoother(shift(b, 10), [1], 0.2)
    assert len(smoother) == 1 and out[0, 1, 0] < b[0, 1, 0] + 10  # track 1 filtered on
    again = smoother(shift(a, 10), [0], 0.3)
    np.testing.assert_array_equal(again, shift(a, 10))  # track 0 restarted
    for t in range(1, 101):
        smoother(one_person(t), [1000 + t], 0.3 + t / FPS)  # a new id every frame
    assert len(smoother) == 1
    smoother.reset()
    assert len(smoother) == 0


def test_timestamps_set_the_interval_and_none_means_one_period_of_freq() -> None:
    frames = [one_person(100 + 6 * t) for t in range(10)]
    fixed, timed, fast = PoseSmoother(), PoseSmoother(), PoseSmoother()
    for t, f in enumerate(frames):
        a = fixed(f, [3])
        b = timed(f, [3], 2.0 + t / 15)
        c = fast(f, [3], 2.0 + t / 60)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    # The same pixel steps four times faster are a faster motion: a higher cutoff, but also a
    # shorter interval per step; One-Euro lags them by a different amount.
    assert not np.allclose(a, c)
    with pytest.raises(ValueError, match="increase"):
        timed(frames[0], [3], 2.0)
    with pytest.raises(ValueError, match="finite"):
        timed(frames[0], [3], float("nan"))


def test_unassigned_people_pass_through_and_poses_come_back_as_poses() -> None:
    smoother = PoseSmoother()
    a, b = one_person(100), one_person(400)
    both = np.concatenate([a, b])
    smoother(both, [0, -1], 0.0)
    moved = shift(both, 20)
    out = smoother(Poses.from_openpose(moved, np.array([2.0, 1.0])), [0, -1], 0.1)
    assert isinstance(out, Poses)
    np.testing.assert_array_equal(out.scores, [2.0, 1.0])
    np.testing.assert_array_equal(out.keypoints[1], moved[1])  # id -1: not filtered
    assert (out.keypoints[0, a[0, :, 2] > 0, 0] < moved[0, a[0, :, 2] > 0, 0]).all()
    np.testing.assert_array_equal(out.coco, Poses.from_openpose(out.keypoints, out.scores).coco)
    assert len(smoother) == 1


def test_bad_input_is_refused() -> None:
    smoother = PoseSmoother()
    two = np.concatenate([one_person(100), one_person(300)])
    with pytest.raises(ValueError, match="twice"):
        smoother(two, [4, 4])
    with pytest.raises(ValueError, match="track ids"):
        smoother(two, [4])
    for bad in ({"freq": 0.0}, {"min_cutoff": -1.0}, {"d_cutoff": float("inf")}, {"beta": -0.1}):
        with pytest.raises(ValueError):
            OneEuroParams(**bad)


# ---------------------------------------------------------------------------------------
# Decoded sequences


def frame_to_frame_motion(frames: list[dict[int, np.ndarray]]) -> float:
    """Mean distance, in pixels, a keypoint moves between consecutive frames of its track."""
    steps = []
    for before, after in itertools.pairwise(frames):
        for track in before.keys() & after.keys():
            both = (before[track][:, 2] > 0) & (after[track][:, 2] > 0)
            steps.extend(np.hypot(*(after[track][both, :2] - before[track][both, :2]).T))
    return float(np.mean(steps))


@pytest.mark.parametrize("noise", [0.02, 0.05])
def test_the_filter_removes_most_jitter_from_a_still_scene(noise: float) -> None:
    """Two people standing still for 100 frames; every frame's heatmaps and PAFs get fresh
    Gaussian noise (standard deviation `noise`, seeded), so the decoded keypoints jitter."""
    rng = np.random.default_rng(5)
    people = [in_view(pose_shape(1, 240, 200, 90)), in_view(pose_shape(2, 200, 450, 120))]
    tracker, smoother = PoseTracker(), PoseSmoother()
    raw, smooth = [], []
    for t in range(100):
        poses = decode_frame(people, rng, noise)
        ids = tracker.update(poses)
        smoothed = smoother(poses, ids, t / FPS)
        raw.append(dict(zip(ids.tolist(), poses.keypoints, strict=True)))
        smooth.append(dict(zip(ids.tolist(), smoothed.keypoints, strict=True)))
    # The two people keep their ids throughout (noise fragments, if any, get other ids).
    assert all({0, 1} <= frame.keys() for frame in raw)
    before, after = frame_to_frame_motion(raw), frame_to_frame_motion(smooth)
    report = (
        f"still scene, map noise {noise}: mean frame-to-frame keypoint motion {before:.3f} px raw, "
        f"{after:.3f} px filtered ({1 - after / before:.0%} less)"
    )
    print(f"\n{report}")
    assert before > 0.1, report  # there is jitter to remove
    assert after <= 0.5 * before, report


def test_a_walking_person_is_followed_with_bounded_lag() -> None:
    """A person walking at 4 pixels per frame (120 px/s at 30 fps), noise-free maps: the decoder
    places every keypoint exactly, so the filtered error is the filter's lag."""
    speed = 4.0
    tracker, smoother = PoseTracker(), PoseSmoother()
    raw_error, lag, steps = [], [], []
    previous = None
    for t in range(100):
        person = in_view(pose_shape(1, 240, 100 + speed * t, 90))
        truth = truth_keypoints([person])[0]
        poses = decode_frame([person])
        ids = tracker.update(poses)
        assert ids.tolist() == [0]
        smoothed = smoother(poses, ids, t / FPS).keypoints[0]
        found = poses.keypoints[0, :, 2] > 0
        assert (found == (truth[:, 2] > 0)).all()
        if t >= 15:  # settled
            raw_error.append(np.hypot(*(poses.keypoints[0, found, :2] - truth[found, :2]).T).mean())
            lag.append(np.hypot(*(smoothed[found, :2] - truth[found, :2]).T).mean())
            steps.append(np.hypot(*(smoothed[found, :2] - previous[found, :2]).T).mean())
        previous = smoothed
    report = (
        f"walking at {speed:.0f} px/frame: mean keypoint error {np.mean(raw_error):.3f} px raw, "
        f"{np.mean(lag):.2f} px filtered (max {np.max(lag):.2f}) after 15 frames; "
        f"filtered keypoints move {np.mean(steps):.2f} px/frame"
    )
    print(f"\n{report}")
    assert np.mean(raw_error) < 0.05, report
    assert np.mean(lag) > 0.5 and np.max(lag) < 0.75 * speed, report  # it lags, by under a frame's motion
    assert np.mean(steps) == pytest.approx(speed, rel=0.05), report  # and keeps pace
