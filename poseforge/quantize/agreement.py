"""Label-free agreement of an INT8 network with its FP32 parent while quantizing (accuracy control).

The FP32 network's own decoded poses on some unlabelled images are the ground truth, and the INT8
network's poses are scored against them: 1.0 means the INT8 network finds the same people with the
same keypoints. The reference rule and the scoring are validation's
(`poseforge.validate.accuracy.agreement`), the figure `poseforge agreement`, reports, the gate
and bundles give: here the networks are runners over images in memory, not reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from poseforge.runtime import Runner
from poseforge.validate.accuracy.agreement import MIN_REFERENCE_SCORE, Reference, poses
from poseforge.validate.accuracy.agreement import agreement as scored
from poseforge.validate.accuracy.dataset import CocoImage


@dataclass(frozen=True)
class PseudoLabels:
    """The FP32 network's poses on some images, under a protocol."""

    images: list[CocoImage]
    results: list[dict]  # the FP32 poses, pycocotools results
    protocol: str

    def reference(self, images: list[CocoImage] | None = None) -> Reference:
        return Reference(self.results, [image.id for image in (self.images if images is None else images)])


def pseudo_labels(fp32: Runner, images: list[CocoImage], protocol: str = "val") -> PseudoLabels:
    return PseudoLabels(images, poses(fp32, images, protocol), protocol)


def agreement(runner: Runner, labels: PseudoLabels, images: list[CocoImage] | None = None) -> float:
    """`runner`'s agreement with the pseudo labels on `images` (default: all of them). Where the
    images hold no reference person (a small ranking subset of person-free images), 1.0 if the
    runner finds nobody the rule would count either, else 0.0: a number NNCF can compare."""
    images = labels.images if images is None else images
    results = poses(runner, images, labels.protocol)
    value = scored(labels.reference(images).matches(results))
    if value is None:
        return 0.0 if any(r["score"] >= MIN_REFERENCE_SCORE for r in results) else 1.0
    return value
