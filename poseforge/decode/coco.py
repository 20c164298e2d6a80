"""Poses as COCO keypoint results, the input pycocotools' loadRes expects."""

from __future__ import annotations

import numpy as np

from .poses import Poses

PERSON_CATEGORY_ID = 1


def to_coco_results(poses: Poses, image_id: int) -> list[dict]:
    """One results dict per person: 17 (x, y, score) triplets flattened, and the person score.

    Missing keypoints are written as (0, 0, 0); COCO's OKS ignores the third value of a
    detection, so the keypoint score is kept there for inspection. Tracked people also carry
    their `track_id` (pycocotools ignores it).
    """
    results = [
        {
            "image_id": int(image_id),
            "category_id": PERSON_CATEGORY_ID,
            "keypoints": coco.reshape(-1).tolist(),  # float64: Python floats
            "score": float(score),
        }
        for coco, score in zip(np.asarray(poses.coco, dtype=np.float64), poses.scores, strict=True)
    ]
    for result, track in zip(results, poses.track_ids, strict=True):
        if track is not None:
            result["track_id"] = track
    return results
