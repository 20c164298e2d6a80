"""The pycocotools wrapper: ground truth scores perfectly, nothing scores zero."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from poseforge.validate.accuracy.dataset import CocoKeypoints
from poseforge.validate.accuracy.scoring import STAT_NAMES, coco_keypoint_metrics


def test_ground_truth_as_detections_scores_one(assets: Path) -> None:
    coco = CocoKeypoints(assets / "coco-mini").coco
    results = [
        {"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
        for a in coco.dataset["annotations"]
        if a["num_keypoints"] > 0 and not a["iscrowd"]
    ]
    metrics = coco_keypoint_metrics(coco, results, sorted(coco.getImgIds()))
    assert np.isclose(metrics["ap"], 1.0) and np.isclose(metrics["ar"], 1.0)
    assert "Average Precision" in metrics["summary"]


def test_shifted_detections_score_less_and_no_detections_score_zero(assets: Path) -> None:
    coco = CocoKeypoints(assets / "coco-mini").coco
    shifted = []
    for a in coco.dataset["annotations"]:
        if a["num_keypoints"] > 0 and not a["iscrowd"]:
            k = np.asarray(a["keypoints"], dtype=float).reshape(17, 3)
            k[:, :2] += 12.0
            shifted.append({"image_id": a["image_id"], "category_id": 1, "keypoints": k.ravel().tolist(), "score": 1.0})
    ids = sorted(coco.getImgIds())
    assert 0.0 < coco_keypoint_metrics(coco, shifted, ids)["ap"] < 0.9
    empty = coco_keypoint_metrics(coco, [], ids)
    assert all(empty[name] == 0.0 for name in STAT_NAMES)
