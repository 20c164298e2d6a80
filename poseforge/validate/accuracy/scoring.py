"""COCO keypoint AP with pycocotools' COCOeval, the lingua franca of pose accuracy.

evaluator = evaluate_keypoints(coco_gt, results, image_ids)   # the OKS matching, once
metrics = keypoint_metrics(evaluator)                          # COCOeval's own AP/AR
matches = intervals.matches_from_eval(evaluator)               # the same matching, for intervals
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

# COCOeval.stats order for iouType "keypoints".
STAT_NAMES = ("ap", "ap50", "ap75", "ap_medium", "ap_large", "ar", "ar50", "ar75", "ar_medium", "ar_large")


def _load_results(coco_gt: Any, results: list[dict]) -> Any:
    """The results as a COCO object; none at all (which loadRes cannot load) as an empty one."""
    from pycocotools.coco import COCO

    if results:
        try:
            return coco_gt.loadRes([dict(r) for r in results])  # loadRes adds keys to each dict
        except AssertionError as exc:
            raise ValueError(f"results do not fit the annotations ({exc})") from None
    empty = COCO()
    empty.dataset = {
        "images": list(coco_gt.dataset["images"]),
        "categories": copy.deepcopy(coco_gt.dataset["categories"]),
        "annotations": [],
    }
    empty.createIndex()
    return empty


def evaluate_keypoints(coco_gt: Any, results: list[dict], image_ids: Sequence[int]) -> Any:
    """COCOeval over `image_ids` with every image's OKS matching done (`evaluate()`), silenced."""
    from pycocotools.cocoeval import COCOeval

    if len(image_ids) == 0:
        raise ValueError("no image ids: pycocotools would evaluate every image of the annotations")
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        evaluator = COCOeval(coco_gt, _load_results(coco_gt, results), "keypoints")
        evaluator.params.imgIds = [int(i) for i in image_ids]
        evaluator.evaluate()
    return evaluator


def keypoint_metrics(evaluator: Any) -> dict[str, Any]:
    """AP/AR of an evaluated COCOeval, plus its own summary text.

    COCOeval reports -1 where a category has no ground truth in the evaluated images; that,
    and no detections at all, count as 0 (what an empty prediction set scores).
    """
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        evaluator.accumulate()
        evaluator.summarize()
    stats = np.asarray(evaluator.stats, dtype=np.float64)
    metrics = {name: float(max(value, 0.0)) for name, value in zip(STAT_NAMES, stats, strict=True)}
    summary = "\n".join(line for line in buffer.getvalue().splitlines() if "Average" in line)
    return {**metrics, "summary": summary}


def coco_keypoint_metrics(coco_gt: Any, results: list[dict], image_ids: Sequence[int]) -> dict[str, Any]:
    """AP/AR over `image_ids`, plus COCOeval's own summary text."""
    return keypoint_metrics(evaluate_keypoints(coco_gt, results, image_ids))
