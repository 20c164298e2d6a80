"""The decoder's output: people in original-image coordinates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from poseforge.keypoints import COCO_FROM_OPENPOSE, NUM_KEYPOINTS, OPENPOSE_TO_COCO

NUM_COCO_KEYPOINTS = len(OPENPOSE_TO_COCO) - 1  # every OpenPose keypoint but the neck


@dataclass(frozen=True)
class Poses:
    """N people, best first.

    keypoints: (N, 18, 3) OpenPose order, (x, y, score) in original-image continuous pixel
        coordinates; a missing keypoint is (0, 0, 0), a found one has score > 0.
    coco: (N, 17, 3) the same people in COCO keypoint order, without the neck.
    scores: (N,) one confidence per person, the ranking score for COCO evaluation: the
        grouping score (keypoint peak values + limb affinities) over sqrt(keypoint count).
    track_ids: a list of N, always: each person's id (int) across the frames of a video when
        tracked, None when the estimator does not track (-1: tracked, but given no id yet).
        Made from None (nobody tracked) or any N ints.
    """

    keypoints: np.ndarray
    coco: np.ndarray
    scores: np.ndarray
    track_ids: list[int | None] = None  # type: ignore[assignment]  # None in: a list of N None out

    def __post_init__(self) -> None:
        n = len(self.scores)
        if self.keypoints.shape != (n, NUM_KEYPOINTS, 3) or self.coco.shape != (n, NUM_COCO_KEYPOINTS, 3):
            raise ValueError(
                f"inconsistent Poses shapes: keypoints {self.keypoints.shape}, coco {self.coco.shape}, "
                f"scores {self.scores.shape}"
            )
        # None, or all None (what dataclasses.replace carries over from an untracked Poses): nobody tracked.
        if self.track_ids is None or all(t is None for t in self.track_ids):
            ids: list[int | None] = [None] * n
        elif np.ndim(self.track_ids) != 1 or len(self.track_ids) != n:
            raise ValueError(f"{np.shape(self.track_ids)} track ids for {n} people")
        else:
            ids = [None if t is None else int(t) for t in self.track_ids]
        object.__setattr__(self, "track_ids", ids)  # frozen: set once, here

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def from_openpose(cls, keypoints: np.ndarray, scores: np.ndarray) -> Poses:
        """Build Poses from (N, 18, 3) OpenPose keypoints, deriving the COCO form."""
        keypoints = np.asarray(keypoints, dtype=np.float64).reshape(-1, NUM_KEYPOINTS, 3)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        return cls(keypoints=keypoints, coco=openpose_to_coco(keypoints), scores=scores)

    def select(self, keep: np.ndarray) -> Poses:
        """The people where `keep` (a boolean mask or indices) holds, in order."""
        rows = np.arange(len(self))[keep]
        return Poses(self.keypoints[keep], self.coco[keep], self.scores[keep], [self.track_ids[i] for i in rows])

    @classmethod
    def empty(cls) -> Poses:
        return cls.from_openpose(np.zeros((0, NUM_KEYPOINTS, 3)), np.zeros(0))


def openpose_to_coco(keypoints: np.ndarray) -> np.ndarray:
    """(N, 18, 3) OpenPose keypoints -> (N, 17, 3) COCO keypoints (the neck is dropped)."""
    return np.asarray(keypoints, dtype=np.float64).take(COCO_FROM_OPENPOSE, axis=1)
