"""The decoder's output: people in original-image coordinates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from poseforge.keypoints import NUM_KEYPOINTS, OPENPOSE_TO_COCO

NUM_COCO_KEYPOINTS = len(OPENPOSE_TO_COCO) - 1  # every OpenPose keypoint but the neck


@dataclass(frozen=True)
class Poses:
    """N people, best first.

    keypoints: (N, 18, 3) OpenPose order, (x, y, score) in original-image continuous pixel
        coordinates; a missing keypoint is (0, 0, 0), a found one has score > 0.
    coco: (N, 17, 3) the same people in COCO keypoint order, without the neck.
    scores: (N,) one confidence per person, the ranking score for COCO evaluation: the
        grouping score (keypoint peak values + limb affinities) over sqrt(keypoint count).
    """

    keypoints: np.ndarray
    coco: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.scores)
        if self.keypoints.shape != (n, NUM_KEYPOINTS, 3) or self.coco.shape != (n, NUM_COCO_KEYPOINTS, 3):
            raise ValueError(
                f"inconsistent Poses shapes: keypoints {self.keypoints.shape}, coco {self.coco.shape}, "
                f"scores {self.scores.shape}"
            )

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def from_openpose(cls, keypoints: np.ndarray, scores: np.ndarray) -> Poses:
        """Build Poses from (N, 18, 3) OpenPose keypoints, deriving the COCO form."""
        keypoints = np.asarray(keypoints, dtype=np.float64).reshape(-1, NUM_KEYPOINTS, 3)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        return cls(keypoints=keypoints, coco=openpose_to_coco(keypoints), scores=scores)

    @classmethod
    def empty(cls) -> Poses:
        return cls.from_openpose(np.zeros((0, NUM_KEYPOINTS, 3)), np.zeros(0))


def openpose_to_coco(keypoints: np.ndarray) -> np.ndarray:
    """(N, 18, 3) OpenPose keypoints -> (N, 17, 3) COCO keypoints (the neck is dropped)."""
    coco = np.zeros((keypoints.shape[0], NUM_COCO_KEYPOINTS, 3), dtype=np.float64)
    for openpose_index, coco_index in enumerate(OPENPOSE_TO_COCO):
        if coco_index >= 0:
            coco[:, coco_index] = keypoints[:, openpose_index]
    return coco
