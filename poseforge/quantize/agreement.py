"""Label-free checks of an INT8 network against its FP32 parent, on unlabelled calibration images.

The FP32 network's own decoded poses serve as pseudo ground truth, and the INT8 network's poses
are scored against them with pycocotools' keypoint OKS-AP: 1.0 means the INT8 network finds the
same people with the same keypoints. No annotation and no validation image is involved, so the
figure can steer quantization (selection of calibration images, accuracy control) without
touching the set the model is later measured on.

People smaller than MIN_PSEUDO_AREA (original-image pixels of their keypoints' bounding box) are
left out of the pseudo ground truth, as COCO leaves small people without keypoints: their
keypoints move by a large fraction of their size at the smallest perturbation, and would
dominate the figure with noise. Detections matched to them are ignored, not counted as wrong.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from poseforge.images import read_image
from poseforge.runtime import Runner
from poseforge.validate.accuracy.dataset import CocoImage
from poseforge.validate.accuracy.loop import run_loop

MIN_PSEUDO_AREA = 32 * 32  # COCO's "small" boundary


@dataclass(frozen=True)
class PseudoLabels:
    """The FP32 network's poses on some images, as a pycocotools ground truth."""

    images: list[CocoImage]
    results: list[dict]  # the FP32 poses, pycocotools results
    protocol: str

    def people(self, image: CocoImage) -> int:
        return sum(1 for r in self.results if r["image_id"] == image.id)

    def coco(self, images: Iterable[CocoImage] | None = None) -> Any:
        images = list(self.images if images is None else images)
        return pseudo_coco(images, self.results)


def as_images(paths: list[Path]) -> list[CocoImage]:
    """Calibration files as COCO images (ids 1..N in the given order)."""
    images = []
    for number, path in enumerate(paths, 1):
        height, width = read_image(path).shape[:2]
        images.append(CocoImage(number, path.name, path, width, height))
    return images


def poses(runner: Runner, images: list[CocoImage], protocol: str) -> list[dict]:
    """The network's decoded poses on `images` (pycocotools results), through the validation loop."""
    deploy_shape = tuple(runner.metadata["input"]["deploy_shape"])
    return run_loop(runner, images, protocol, deploy_shape).results


def pseudo_labels(fp32: Runner, images: list[CocoImage], protocol: str = "val") -> PseudoLabels:
    return PseudoLabels(images, poses(fp32, images, protocol), protocol)


def pseudo_coco(images: list[CocoImage], results: list[dict]) -> Any:
    """A pycocotools COCO whose ground truth is `results` (the reference network's poses)."""
    from pycocotools.coco import COCO

    wanted = {image.id for image in images}
    annotations = []
    for result in results:
        if result["image_id"] not in wanted:
            continue
        keypoints = np.asarray(result["keypoints"], dtype=np.float64).reshape(-1, 3)
        found = keypoints[:, 2] > 0
        if not found.any():
            continue
        xs, ys = keypoints[found, 0], keypoints[found, 1]
        x0, y0, w, h = xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min()
        area = float(w * h)
        labelled = np.where(found[:, None], np.c_[keypoints[:, :2], np.full(len(keypoints), 2.0)], 0.0)
        annotations.append({
            "id": len(annotations) + 1, "image_id": result["image_id"], "category_id": 1, "iscrowd": 0,
            "keypoints": labelled.reshape(-1).tolist(), "bbox": [float(x0), float(y0), float(w), float(h)],
            "area": max(area, 1.0),
            # Small people are ignored (no keypoints), as COCO annotates none for them.
            "num_keypoints": int(found.sum()) if area >= MIN_PSEUDO_AREA else 0,
        })  # fmt: skip
    coco = COCO()
    coco.dataset = {
        "images": [{"id": i.id, "file_name": i.file_name, "width": i.width, "height": i.height} for i in images],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person"}],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def oks_ap(coco: Any, results: list[dict], image_ids: list[int]) -> float:
    """COCO keypoint AP (OKS 0.50:0.95, all areas) of `results` against `coco`, up to 100 people per
    image (the reference scores exactly 1.0 against itself even on crowded images)."""
    from pycocotools.cocoeval import COCOeval

    if not any(a["num_keypoints"] > 0 for a in coco.dataset["annotations"]):
        return 1.0 if not results else 0.0
    if not results:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(coco, coco.loadRes([dict(r) for r in results]), "keypoints")
        evaluator.params.imgIds = list(image_ids)
        evaluator.params.maxDets = [100]
        evaluator.evaluate()
        evaluator.accumulate()
    precision = evaluator.eval["precision"][:, :, 0, 0, 0]  # OKS thresholds x recall; person, all areas
    valid = precision[precision > -1]
    return float(valid.mean()) if valid.size else 0.0


def agreement(runner: Runner, labels: PseudoLabels, images: list[CocoImage] | None = None) -> float:
    """OKS-AP of `runner`'s poses against the pseudo labels, on `images` (default: all of them)."""
    images = labels.images if images is None else images
    ids = [image.id for image in images]
    return oks_ap(labels.coco(images), poses(runner, images, labels.protocol), ids)
