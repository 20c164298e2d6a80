"""One PoseEstimator shared between threads: every call gets the poses of its own frame, a stream and
calls run side by side, and a tracked estimator refuses an overlapping call instead of mixing ids."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

from poseforge import PoseEstimator, Poses
from poseforge.errors import PoseforgeError
from tests.bundle.made import Made

THREADS, CALLS = 4, 100


@pytest.fixture(scope="module")
def images(coco_images: list[Path]) -> list[np.ndarray]:
    """Real COCO images of several sizes, with and without people."""
    return [cv2.imread(str(p)) for p in coco_images[:25]]


def warmed(made: Made, images: list[np.ndarray]) -> PoseEstimator:
    """An estimator that has compiled both its networks (the first size's, and every other shape's)."""
    estimator = PoseEstimator(made.bundle)
    estimator(images[0])
    estimator(cv2.resize(images[0], (333, 500)))
    return estimator


def same(got: Poses, want: Poses) -> bool:
    """Bit for bit: a frame's poses depend on the frame alone, whichever thread runs it and when."""
    return np.array_equal(got.keypoints, want.keypoints) and np.array_equal(got.scores, want.scores)


def test_four_threads_share_one_estimator_over_100_calls(made: Made, images: list[np.ndarray]) -> None:
    alone = warmed(made, images)
    want = [alone(image) for image in images]  # single-threaded, one frame at a time
    assert sum(len(p) for p in want) > 0 and any(len(p) == 0 for p in want)  # people, and frames without
    shared = warmed(made, images)
    jobs = [i % len(images) for i in range(CALLS)]
    with ThreadPoolExecutor(THREADS) as pool:
        got = list(pool.map(lambda i: (i, threading.get_ident(), shared(images[i])), jobs))
    assert len({ident for _, ident, _ in got}) > 1  # the calls did come from several threads
    wrong = [i for i, _, poses in got if not same(poses, want[i])]
    assert wrong == [], f"{len(wrong)} of {CALLS} calls got other poses than their own frame's"
    assert shared.times.frames == CALLS + 2  # every call counted once
    assert shared.timings()["stages"]["infer"]["frames"] == CALLS + 2


def test_a_stream_and_calls_run_side_by_side(made: Made, images: list[np.ndarray]) -> None:
    alone = warmed(made, images)
    want = [alone(image) for image in images]
    shared = warmed(made, images)
    streamed: list[Poses] = []
    worker = threading.Thread(target=lambda: streamed.extend(shared.stream(iter(images))))
    worker.start()
    called = [shared(image) for image in reversed(images)]
    worker.join(timeout=300)
    assert not worker.is_alive()
    assert all(same(got, wanted) for got, wanted in zip(streamed, want, strict=True))
    assert all(same(got, wanted) for got, wanted in zip(called, reversed(want), strict=True))


def test_a_tracked_estimator_takes_one_sequence_at_a_time(made: Made, images: list[np.ndarray]) -> None:
    tracked = PoseEstimator(made.bundle, track=True)
    stream = tracked.stream(iter(images[:6]))
    first = next(stream)  # the stream is running: its tracker follows its frames
    with pytest.raises(PoseforgeError, match="one sequence of frames"):
        tracked(images[0])
    with pytest.raises(PoseforgeError, match="one sequence of frames"):
        next(tracked.stream(iter(images[:2])))
    rest = list(stream)
    assert len(rest) == 5 and all(t is not None for t in first.track_ids)
    assert all(t is not None for t in tracked(images[0]).track_ids)  # the stream is over: calls run again
