"""Agreement with the FP32 IR: an artifact's poses scored against the FP32 IR's own poses.

    reference = Reference(fp32_results, image_ids)      # the FP32 IR's poses as ground truth
    matches = reference.matches(int8_results)            # pycocotools' OKS matching, once
    agreement(matches), bootstrap_ap(matches), paired_difference(intel, ours)   # as for AP

AP against labels on a few hundred people cannot tell two INT8 networks apart: both lose far less
to FP32 than the labels' own spread. Scoring an artifact against what the FP32 network itself finds
on the same images (same protocol) needs no label and measures only what quantization (or bf16, or
FP16) changed, so it resolves much smaller differences, on any images: coco-val, calibration
images never used to calibrate, a user's own footage. It ranks artifacts by closeness to FP32; it
says nothing about accuracy against people.

The reference rule, defined here once (validate, report, gate, bundles and quantization's
accuracy control all score through `Reference`):
- reference people: the FP32 network's people with a score of at least MIN_REFERENCE_SCORE; below
  that they are fragments (a few weak parts grouped), which appear and vanish at the smallest
  change of the network and would make the figure a count of coin flips;
- their keypoints with a heatmap peak are labelled visible, the others unlabelled (OKS then
  compares only the keypoints FP32 found);
- a person's area, OKS's scale, is the box of its found keypoints (at least one pixel), as the
  reference has no segmentation;
- per image only the MAX_DETS highest-scored reference people count; the rest are ignored (a
  detection matching one is neither right nor wrong), because pycocotools scores only an image's
  MAX_DETS best detections: counted, they would put FP32 below 1 against itself on crowded images.
Scored with pycocotools' keypoint evaluation (OKS 0.50:0.95), FP32 against itself is exactly 1.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from poseforge.artifacts import REFERENCE, report_key, run_name
from poseforge.errors import PoseforgeError
from poseforge.images import image_files, read_image, shared_images
from poseforge.runtime import Runner
from poseforge.validate.accuracy.dataset import CocoImage
from poseforge.validate.accuracy.intervals import (
    MAX_DETS,
    ImageMatches,
    ap_from_weights,
    bootstrap_ap,
    match_images,
)
from poseforge.validate.accuracy.loop import run_loop

MIN_REFERENCE_SCORE = 1.0  # person score (decode: grouping score over sqrt(keypoints))
RULE = (
    f"the FP32 IR's people scored >= {MIN_REFERENCE_SCORE:g} (the {MAX_DETS} best of an image counted, the rest "
    "ignored), their found keypoints visible, area the found keypoints' box; pycocotools keypoint OKS-AP"
)
# The gate's default tolerance on an agreement: a deterministic check of one image set on one
# machine class, as for INT8 AP, on a measure that moves several times more than AP does.
AGREEMENT_TOLERANCE = 0.02


class Reference:
    """The FP32 IR's poses on some images, as a pycocotools ground truth (the rule above)."""

    def __init__(self, results: Iterable[dict], image_ids: Sequence[int]) -> None:
        self.image_ids = [int(i) for i in image_ids]
        if not self.image_ids:
            raise ValueError("no image ids: agreement needs the images both networks ran on")
        self.coco = reference_coco(list(results), self.image_ids)

    @property
    def people(self) -> int:
        """Reference people counted (not ignored) over the images."""
        return sum(1 for a in self.coco.dataset["annotations"] if a["num_keypoints"] > 0)

    def matches(self, results: list[dict]) -> ImageMatches:
        """`results` matched against the reference (pycocotools' OKS matching, once), ready for
        `agreement`, `bootstrap_ap` and `paired_difference`."""
        return match_images(self.coco, results, self.image_ids)


def reference_coco(results: list[dict], image_ids: Sequence[int]) -> Any:
    """A pycocotools COCO holding the reference people of `results` on `image_ids`."""
    from pycocotools.coco import COCO

    wanted = set(image_ids)
    by_image: dict[int, list[dict]] = {}
    for result in results:
        if result["image_id"] in wanted and result["score"] >= MIN_REFERENCE_SCORE:
            by_image.setdefault(result["image_id"], []).append(result)
    annotations = []
    for image_id in sorted(by_image):
        # pycocotools keeps an image's MAX_DETS best detections, ties in results order: so do we.
        ranked = sorted(by_image[image_id], key=lambda r: -r["score"])
        for rank, result in enumerate(ranked):
            keypoints = np.asarray(result["keypoints"], dtype=np.float64).reshape(-1, 3)
            found = keypoints[:, 2] > 0
            if not found.any():
                continue
            xs, ys = keypoints[found, 0], keypoints[found, 1]
            box = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min()), float(ys.max() - ys.min())]
            labelled = np.where(found[:, None], np.c_[keypoints[:, :2], np.full(len(keypoints), 2.0)], 0.0)
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                "keypoints": labelled.reshape(-1).tolist(), "bbox": box, "area": max(box[2] * box[3], 1.0),
                # pycocotools ignores a keypoint ground truth without keypoints: beyond the counted ones.
                "num_keypoints": int(found.sum()) if rank < MAX_DETS else 0,
            })  # fmt: skip
    coco = COCO()
    coco.dataset = {
        "images": [{"id": i} for i in sorted(wanted)],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person"}],
    }
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco.createIndex()
    return coco


def agreement(matches: ImageMatches) -> float | None:
    """The agreement (OKS-AP against the reference) of matched results; None without reference people."""
    value = ap_from_weights(matches)
    return None if value < 0 else value


def agreement_interval(matches: ImageMatches, resamples: int, seed: int) -> dict[str, Any] | None:
    """The agreement with its 95% bootstrap interval (images resampled), or None without reference people."""
    if matches.people == 0:
        return None
    return bootstrap_ap(matches, resamples, seed).to_dict()


# --- which reference a report is scored against ------------------------------------------------------------------
def reference_problem(run: dict[str, Any], reference: dict[str, Any]) -> str | None:
    """Why `reference` (a report) cannot be the reference of `run` (a report, or the fields of one
    being written: model, protocol, input height, dataset), or None: it must be the FP32 IR run with
    f32 under the same protocol (and native input height), of the same model, on the same images and
    annotations."""
    name = run_name(reference["artifact"], reference.get("precision_hint"))
    if name != REFERENCE:
        return f"it is a report of {name}, not of {REFERENCE}"
    if reference["model"] != run["model"]:
        return f"it is a report of model {reference['model']}, not {run['model']}"
    if report_key(reference) != report_key(run):
        return f"it is under the {report_key(reference)} protocol, not {report_key(run)}"
    ours, theirs = run["dataset"], reference["dataset"]
    if (ours["annotations_sha256"], ours["image_ids_sha256"]) != (theirs["annotations_sha256"],
                                                                     theirs["image_ids_sha256"]):  # fmt: skip
        return f"it was measured on other images ({reference['images']} of {theirs['name']})"
    return None


def agreement_field(
    results: list[dict], image_ids: Sequence[int], reference: dict[str, Any], reference_results: list[dict],
    reference_path: str | Path, resamples: int, seed: int,
) -> dict[str, Any] | None:  # fmt: skip
    """A report's `agreement` (documents.AGREEMENT_FIELD): its results scored against the reference
    report's, with the interval and what it was scored against; None without reference people."""
    matches = Reference(reference_results, image_ids).matches(results)
    interval = agreement_interval(matches, resamples, seed)
    if interval is None:
        return None
    return {
        "ap": interval["ap"],
        "interval": interval,
        "people": matches.people,
        "reference": {
            "artifact": reference["artifact"],
            "report": Path(reference_path).name,
            "artifact_sha256": reference["artifact_sha256"],
            "results_sha256": reference["results_sha256"],
        },
        "rule": RULE,
    }


# --- any folder of images: no labels ------------------------------------------------------------------------------
def folder_images(paths: list[Path]) -> list[CocoImage]:
    """Image files as COCO images (ids 1..N in the given order), each checked to decode."""
    images = []
    for number, path in enumerate(paths, 1):
        height, width = read_image(path).shape[:2]
        images.append(CocoImage(number, path.name, path, width, height))
    return images


def poses(runner: Runner, images: list[CocoImage], protocol: str) -> list[dict]:
    """The network's decoded poses on `images` (pycocotools results), through the validation loop."""
    deploy_shape = tuple(runner.metadata["input"]["deploy_shape"])
    return run_loop(runner, images, protocol, deploy_shape).results


def disjoint_images(folder: str | Path, used: Iterable[Path]) -> tuple[list[Path], list[str]]:
    """The images of `folder` (name order) that are not among `used`, by file name or, where a used
    file is at hand, by content: the images a network was not calibrated on. Returns (kept, names
    left out)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PoseforgeError(f"image folder not found: {folder}")
    images = image_files(folder)
    shared = shared_images(images, list(used))
    return [path for path in images if path not in shared], [path.name for path in images if path in shared]
