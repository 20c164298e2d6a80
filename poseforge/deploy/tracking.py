"""Person ids that stay the same across video frames.

    tracker = PoseTracker()              # or PoseTracker(min_oks=..., max_age=...)
    for frame in video:
        poses = decode(...)
        ids = tracker.update(poses)      # (N,) int64, aligned with poses.keypoints

Each frame's people are matched to the remembered tracks (each at the position where it was
last seen, however many frames ago) by COCO's object keypoint similarity (OKS), greedily,
most similar pair first; a pair needs at least `min_oks`. A person left unmatched starts a new
track with the next id: ids increase monotonically and are never reused. A track unmatched for
more than `max_age` consecutive frames is forgotten.

Upstream Lightweight OpenPose's demo (modules/pose.py, track_poses) instead counts the
keypoints whose similarity exceeds 0.5, matches each person (most confident first) to the
previous frame's person with the highest count of at least 3, and remembers one frame only.
OKS keeps the per-keypoint similarity itself, so "close" and "barely close" differ, and a
highest-pair-first order does not let a confident newcomer take a track that fits someone else
better; the memory of `max_age` frames keeps an id through a missed detection or a short
occlusion.

Pure NumPy (and the keypoint schema), like the decoder.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from poseforge.keypoints import KEYPOINT_NAMES, NECK, NUM_KEYPOINTS, OPENPOSE_TO_COCO

# COCO's per-keypoint OKS sigmas in COCO keypoint order (pycocotools COCOeval.Params.kpt_oks_sigmas).
COCO_SIGMAS: tuple[float, ...] = (
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
    0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
)  # fmt: skip


def _openpose_sigmas() -> np.ndarray:
    sigmas = np.empty(NUM_KEYPOINTS)
    for openpose_index, coco_index in enumerate(OPENPOSE_TO_COCO):
        if coco_index >= 0:
            sigmas[openpose_index] = COCO_SIGMAS[coco_index]
    # COCO has no neck. OpenPose's neck is the midpoint of the shoulders, so its position is
    # about as uncertain as theirs: it gets the mean of the two shoulders' sigmas (both 0.079).
    shoulders = [OPENPOSE_TO_COCO[KEYPOINT_NAMES.index(name)] for name in ("r_sho", "l_sho")]
    sigmas[NECK] = float(np.mean([COCO_SIGMAS[i] for i in shoulders]))
    return sigmas


# The COCO sigmas in OpenPose keypoint order, the neck included.
OPENPOSE_SIGMAS: np.ndarray = _openpose_sigmas()
OPENPOSE_SIGMAS.setflags(write=False)


@dataclass(frozen=True)
class TrackerParams:
    """How people are matched to tracks.

    min_oks: the least OKS at which a person continues a track. 0.3, below COCO's 0.5 for
        "the same person": on the real network, small or partly hidden people whose keypoints
        come and go between frames, seen by a moving camera, fall below 0.5 from one frame to
        the next, while two different people, side by side or even overlapping, rarely reach
        0.3 (tests/deploy/test_tracking.py measures both). Lower tolerates more motion while a
        person is missed; higher pairs neighbours less readily.
    max_age: a track not matched for more than this many consecutive frames is forgotten
        (30 frames: one second at 30 fps); 0 remembers the previous frame only, as upstream's
        demo does.
    """

    min_oks: float = 0.3
    max_age: int = 30

    def __post_init__(self) -> None:
        if not (math.isfinite(self.min_oks) and 0 < self.min_oks <= 1):
            raise ValueError(f"min_oks must be in (0, 1], got {self.min_oks}")
        if isinstance(self.max_age, bool) or not isinstance(self.max_age, int) or self.max_age < 0:
            raise ValueError(f"max_age must be a non-negative integer number of frames, got {self.max_age!r}")


def as_keypoints(poses: Any) -> np.ndarray:
    """(N, 18, 3) float64 keypoints from a Poses (anything with `.keypoints`) or an array."""
    keypoints = np.asarray(getattr(poses, "keypoints", poses), dtype=np.float64)
    if keypoints.ndim != 3 or keypoints.shape[1:] != (NUM_KEYPOINTS, 3):
        raise ValueError(f"expected (N, {NUM_KEYPOINTS}, 3) keypoints (x, y, score), got shape {keypoints.shape}")
    if not np.isfinite(keypoints).all():
        raise ValueError("keypoints must be finite (a missing keypoint is (0, 0, 0))")
    return keypoints


def keypoint_box_area(keypoints: np.ndarray) -> np.ndarray:
    """(N, 18, 3) -> (N,) area of each person's found keypoints' bounding box (0 if none)."""
    present = keypoints[..., 2] > 0
    xy = keypoints[..., :2]
    lo = np.where(present[..., None], xy, np.inf).min(axis=1)
    hi = np.where(present[..., None], xy, -np.inf).max(axis=1)
    size = np.where(present.any(axis=1)[:, None], hi - lo, 0.0)
    return size[:, 0] * size[:, 1]


def oks(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 18, 3) and (T, 18, 3) keypoints -> (N, T) object keypoint similarity.

    COCO's formula, a sum of exp(-d^2 / (2 s^2 (2 sigma)^2)) over keypoints, made symmetric
    for comparing two detections (COCO compares a detection with ground truth, whose keypoints
    it counts and whose area it uses): the sum runs over the keypoints both people have and is
    divided by the number either has, so a keypoint only one of them has counts as a miss, as
    a ground-truth keypoint without a detection does in COCO; and the scale s^2 is the larger
    of the two people's keypoint bounding-box areas (as in upstream's demo: a person cut by the
    border or by occlusion has a small box). When both have the same keypoints this is COCO's
    OKS with the keypoint box as area.
    """
    present_a, present_b = a[..., 2] > 0, b[..., 2] > 0
    common = present_a[:, None, :] & present_b[None, :, :]  # (N, T, 18)
    either = (present_a[:, None, :] | present_b[None, :, :]).sum(axis=-1)
    d2 = ((a[:, None, :, :2] - b[None, :, :, :2]) ** 2).sum(axis=-1)
    area = np.maximum(keypoint_box_area(a)[:, None], keypoint_box_area(b)[None, :])
    variances = (2 * OPENPOSE_SIGMAS) ** 2
    similarity = np.exp(-d2 / (2 * variances * (area[..., None] + np.spacing(1))))
    return np.where(common, similarity, 0.0).sum(axis=-1) / np.maximum(either, 1)


class PoseTracker:
    """Gives each person an integer id that stays the same across the frames of a video.

    Call `update` once per frame, in order, with every person the decoder found (an empty
    frame too: it ages the tracks). A person without any keypoint gets id -1 and starts no
    track.
    """

    def __init__(self, params: TrackerParams | None = None, **overrides: Any) -> None:
        self.params = dataclasses.replace(params or TrackerParams(), **overrides)
        self._next_id = 0
        self.reset()

    def reset(self) -> None:
        """Forget every track (ids keep increasing: an id is never given to two people)."""
        self._frame = -1
        self._ids = np.zeros(0, dtype=np.int64)
        self._keypoints = np.zeros((0, NUM_KEYPOINTS, 3))
        self._last_seen = np.zeros(0, dtype=np.int64)

    @property
    def track_ids(self) -> np.ndarray:
        """Ids of the tracks still remembered (matchable in the next frame), oldest first."""
        return self._ids.copy()

    @property
    def frame(self) -> int:
        """Index of the last frame given to `update` (-1 before the first)."""
        return self._frame

    def update(self, poses: Any) -> np.ndarray:
        """Match this frame's people (Poses or (N, 18, 3) keypoints) to tracks; returns (N,) ids."""
        keypoints = as_keypoints(poses)
        self._frame += 1
        # A track last matched in frame f has missed frame - f - 1 frames before this one.
        alive = self._frame - self._last_seen - 1 <= self.params.max_age
        self._ids, self._keypoints, self._last_seen = self._ids[alive], self._keypoints[alive], self._last_seen[alive]

        ids = np.full(len(keypoints), -1, dtype=np.int64)
        matched_tracks = np.zeros(len(self._ids), dtype=bool)
        if len(keypoints) and len(self._ids):
            similarity = oks(keypoints, self._keypoints)
            people, tracks = np.nonzero(similarity >= self.params.min_oks)
            # Most similar pair first; ties go to the better-ranked person, then the older track.
            order = np.lexsort((tracks, people, -similarity[people, tracks]))
            for person, track in zip(people[order], tracks[order], strict=True):
                if ids[person] < 0 and not matched_tracks[track]:
                    ids[person] = self._ids[track]
                    matched_tracks[track] = True
                    self._keypoints[track] = keypoints[person]
                    self._last_seen[track] = self._frame

        new = np.flatnonzero((ids < 0) & (keypoints[..., 2] > 0).any(axis=1))
        if len(new):
            ids[new] = self._next_id + np.arange(len(new))
            self._next_id += len(new)
            self._ids = np.concatenate([self._ids, ids[new]])
            self._keypoints = np.concatenate([self._keypoints, keypoints[new]])
            self._last_seen = np.concatenate([self._last_seen, np.full(len(new), self._frame)])
        return ids
