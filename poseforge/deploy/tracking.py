"""Person ids that stay the same across video frames, given only to people seen in a few frames running.

    tracker = PoseTracker()                    # or PoseTracker(min_hits=..., high_score=...)
    for frame in video:
        poses = decode(...)
        ids = tracker.update(poses, cut=...)   # (N,) int64 aligned with poses.keypoints; -1: no id

Each frame, in two stages (ByteTrack's association by score: Zhang et al., "ByteTrack:
Multi-Object Tracking by Associating Every Detection Box", ECCV 2022), people are matched to
tracks by COCO's object keypoint similarity (OKS) against each track's last position, greedily,
most similar pair first, a pair needing at least `min_oks`:
1. people scoring at least `high_score` against every track (confirmed, tentative, or lost for
   up to `max_age` frames);
2. the weaker people against the confirmed tracks still unmatched: a weak detection (a person
   half hidden, blurred, at the border) extends a track, but never starts one.
A strong person left unmatched starts a tentative track. A tentative track that is matched in
`min_hits` consecutive frames is confirmed and gets its id then, from a counter (ids are dense,
increase, and are never reused); one that misses a frame is dropped (SORT's rule: Bewley et al.,
"Simple Online and Realtime Tracking", ICIP 2016). Tracks born in the first frame of a shot (the
first frame, or the first after a cut or `reset`) are confirmed at once, as ByteTrack's first
frame is: nothing came before to confirm them against, and a still image gets its ids. A
confirmed track unmatched for more than `max_age` consecutive frames is forgotten. A person
without a confirmed track (a tentative one, a weak one left over, one without keypoints) gets
id -1. `cut=True` says the frame starts a new shot (a scene cut: see scenes.py): every track
ends before it is matched, so no id crosses the cut.

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
    """How people are matched to tracks, and when a track has an id. Every default was chosen on
    real network output (`poseforge bench-tracking`, whose figures the README gives, and
    tests/deploy/test_tracking.py).

    min_oks: the least OKS at which a person continues a track. 0.3, below COCO's 0.5 for
        "the same person": on the real network, small or partly hidden people whose keypoints
        come and go between frames, seen by a moving camera, fall below 0.5 from one frame to
        the next, while two different people, side by side or even overlapping, rarely reach
        0.3 (tests/deploy/test_tracking.py measures both). Lower tolerates more motion while a
        person is missed; higher pairs neighbours less readily.
    max_age: a confirmed track not matched for more than this many consecutive frames is
        forgotten (30 frames: one second at 30 fps); 0 remembers the previous frame only, as
        upstream's demo does.
    min_hits: consecutive frames a new track must be matched in before it is confirmed and gets
        an id (SORT's and ByteTrack's 3): a false or fragmentary person, seen for a frame or
        two, never gets one. 1 gives an id at once.
    high_score: the person score (the decoder's: see Poses) from which a person may start a
        track and is matched first; weaker people only continue confirmed tracks. It lies
        between the scores of the people who are there all along and those of the fragments
        and half-hidden people that come and go for a frame or two; lower starts tracks for
        more of the half hidden (and of the fragments), higher for fewer. 0 lets every person
        start a track.
    cut_threshold: the change between consecutive frames, in [0, 1], above which a frame starts a
        new shot and every track ends (scenes.frame_change: the mean absolute difference of
        small grey thumbnails over 255). Above what a fast pan or zoom changes, below what
        almost any two different photos differ by. 1 never cuts.
    emit_unconfirmed: whether people without an id (id -1) are returned with the tracked ones
        (PoseEstimator, predict). False: only tracked people, as ultralytics' trackers return
        only tracked objects.
    """

    min_oks: float = 0.3
    max_age: int = 30
    min_hits: int = 3
    high_score: float = 3.0
    cut_threshold: float = 0.1
    emit_unconfirmed: bool = False

    def __post_init__(self) -> None:
        if not (_is_number(self.min_oks) and 0 < self.min_oks <= 1):
            raise ValueError(f"min_oks must be in (0, 1], got {self.min_oks!r}")
        for name, low in (("max_age", 0), ("min_hits", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_FRAMES:
                raise ValueError(f"{name} must be an integer number of frames in [{low}, {MAX_FRAMES}], got {value!r}")
        if not (_is_number(self.high_score) and 0 <= self.high_score <= MAX_SCORE):
            raise ValueError(f"high_score must be in [0, {MAX_SCORE}], got {self.high_score!r}")
        if not (_is_number(self.cut_threshold) and 0 < self.cut_threshold <= 1):
            raise ValueError(f"cut_threshold must be in (0, 1], got {self.cut_threshold!r}")
        if not isinstance(self.emit_unconfirmed, bool):
            raise ValueError(f"emit_unconfirmed must be true or false, got {self.emit_unconfirmed!r}")


MAX_FRAMES = 100_000  # max_age and min_hits: an hour at 30 fps is far beyond any use
MAX_SCORE = 100.0  # a person's score is at most about sqrt(18) x 2 (every keypoint and limb at 1)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


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
    frame too: it ages the tracks).
    """

    def __init__(self, params: TrackerParams | None = None, **overrides: Any) -> None:
        self.params = dataclasses.replace(params or TrackerParams(), **overrides)
        self._next_id = 0
        self.reset()

    def reset(self) -> None:
        """Forget every track and start counting frames again (ids keep increasing: an id is
        never given to two people)."""
        self._frame = -1
        self._end_tracks()

    def _end_tracks(self) -> None:
        self._shot_start = self._frame + 1  # the next frame is the first of a shot
        self._ids = np.zeros(0, dtype=np.int64)  # -1: tentative
        self._keypoints = np.zeros((0, NUM_KEYPOINTS, 3))
        self._last_seen = np.zeros(0, dtype=np.int64)
        self._hits = np.zeros(0, dtype=np.int64)  # frames matched (a tentative track's: in a row)

    @property
    def track_ids(self) -> np.ndarray:
        """Ids of the confirmed tracks still remembered (matchable in the next frame), oldest first."""
        return self._ids[self._ids >= 0].copy()

    @property
    def tentative(self) -> int:
        """How many tracks wait for confirmation."""
        return int((self._ids < 0).sum())

    @property
    def frame(self) -> int:
        """Index of the last frame given to `update` (-1 before the first)."""
        return self._frame

    def update(self, poses: Any, scores: Any = None, cut: bool = False) -> np.ndarray:
        """Match this frame's people to tracks; returns (N,) ids, -1 where a person has none.

        `poses`: Poses (scores from it) or (N, 18, 3) keypoints with `scores` (N,) beside them;
        keypoints without scores are all strong. `cut`: this frame starts a new shot."""
        keypoints = as_keypoints(poses)
        scores = person_scores(getattr(poses, "scores", None) if scores is None else scores, len(keypoints))
        if cut:
            self._end_tracks()
        self._frame += 1
        params = self.params
        self._keep(self._frame - self._last_seen - 1 <= params.max_age)

        has_keypoints = (keypoints[..., 2] > 0).any(axis=1)
        strong = has_keypoints & (scores >= params.high_score)
        track_of = np.full(len(keypoints), -1, dtype=np.int64)  # row of each person's track
        free = np.ones(len(self._ids), dtype=bool)
        self._match(keypoints, np.flatnonzero(strong), free, track_of)
        self._match(keypoints, np.flatnonzero(has_keypoints & ~strong), free & (self._ids >= 0), track_of)

        matched = track_of >= 0
        rows = track_of[matched]
        self._keypoints[rows] = keypoints[matched]
        self._last_seen[rows] = self._frame
        self._hits[rows] += 1
        new = np.flatnonzero(strong & ~matched)
        track_of[new] = len(self._ids) + np.arange(len(new))
        self._ids = np.concatenate([self._ids, np.full(len(new), -1)])
        self._keypoints = np.concatenate([self._keypoints, keypoints[new]])
        self._last_seen = np.concatenate([self._last_seen, np.full(len(new), self._frame)])
        self._hits = np.concatenate([self._hits, np.ones(len(new), dtype=np.int64)])

        # Confirmed in the order of the people they matched (best first), so ids are reproducible.
        first_of_shot = self._frame == self._shot_start
        for row in track_of[track_of >= 0]:
            if self._ids[row] < 0 and (self._hits[row] >= params.min_hits or first_of_shot):
                self._ids[row] = self._next_id
                self._next_id += 1
        ids = np.full(len(keypoints), -1, dtype=np.int64)
        ids[track_of >= 0] = self._ids[track_of[track_of >= 0]]
        self._keep((self._ids >= 0) | (self._last_seen == self._frame))  # a tentative track missed is gone
        return ids

    def _keep(self, keep: np.ndarray) -> None:
        self._ids, self._keypoints = self._ids[keep], self._keypoints[keep]
        self._last_seen, self._hits = self._last_seen[keep], self._hits[keep]

    def _match(self, keypoints: np.ndarray, people: np.ndarray, free: np.ndarray, track_of: np.ndarray) -> None:
        """Greedy OKS matching of `people` (indices) to the tracks where `free`, most similar pair
        first; fills `track_of` and clears `free` for each pair made."""
        tracks = np.flatnonzero(free)
        if not len(people) or not len(tracks):
            return
        similarity = oks(keypoints[people], self._keypoints[tracks])
        rows, cols = np.nonzero(similarity >= self.params.min_oks)
        # Most similar pair first; ties go to the better-ranked person, then the older track.
        order = np.lexsort((cols, rows, -similarity[rows, cols]))
        for person, track in zip(people[rows[order]], tracks[cols[order]], strict=True):
            if track_of[person] < 0 and free[track]:
                track_of[person] = track
                free[track] = False


def person_scores(scores: Any, count: int) -> np.ndarray:
    """(N,) finite person scores from an array of them; None: all strong (inf)."""
    if scores is None:
        return np.full(count, np.inf)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(scores) != count or not np.isfinite(scores).all():
        raise ValueError(f"expected {count} finite person scores, got {scores.tolist()[:8]}")
    return scores
