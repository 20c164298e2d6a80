"""COCO keypoint AP with pycocotools' COCOeval, the lingua franca of pose accuracy."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np

# COCOeval.stats order for iouType "keypoints".
STAT_NAMES = ("ap", "ap50", "ap75", "ap_medium", "ap_large", "ar", "ar50", "ar75", "ar_medium", "ar_large")


def coco_keypoint_metrics(coco_gt: Any, results: list[dict], image_ids: list[int]) -> dict[str, Any]:
    """AP/AR over `image_ids`, plus COCOeval's own summary text.

    With no detections at all COCOeval cannot load results; the metrics are then 0 (not NaN),
    which is what an empty prediction set scores.
    """
    from pycocotools.cocoeval import COCOeval

    if not results:
        return {**dict.fromkeys(STAT_NAMES, 0.0), "summary": "no detections"}
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        coco_dt = coco_gt.loadRes([dict(r) for r in results])  # loadRes adds keys to each dict
        evaluator = COCOeval(coco_gt, coco_dt, "keypoints")
        evaluator.params.imgIds = list(image_ids)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = np.asarray(evaluator.stats, dtype=np.float64)
    # COCOeval reports -1 where a category has no ground truth in the evaluated images.
    metrics = {name: float(max(value, 0.0)) for name, value in zip(STAT_NAMES, stats, strict=True)}
    summary = "\n".join(line for line in buffer.getvalue().splitlines() if "Average" in line)
    return {**metrics, "summary": summary}
