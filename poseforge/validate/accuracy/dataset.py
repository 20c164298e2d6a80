"""COCO keypoint data: the annotations, and the images streamed from disk.

A COCO directory holds `annotations/person_keypoints_val2017.json` and `val2017/`. Images
are read by a background thread into a small bounded queue, so a 5,000-image val2017 runs
in bounded memory and reading overlaps inference.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from poseforge.background import read_ahead
from poseforge.documents import COCO_ANNOTATIONS, read_document
from poseforge.errors import PoseforgeError
from poseforge.fileio import sha256_file, sha256_text
from poseforge.images import read_image

ANNOTATIONS = "annotations/person_keypoints_val2017.json"
IMAGES = "val2017"
PREFETCH = 4  # images read ahead of the consumer


@dataclass(frozen=True)
class CocoImage:
    id: int
    file_name: str
    path: Path
    width: int
    height: int


class CocoKeypoints:
    """The person keypoint annotations of a COCO directory, loaded with pycocotools."""

    def __init__(self, coco_dir: str | Path) -> None:
        self.root = Path(coco_dir)
        self.annotations = self.root / ANNOTATIONS
        self.images_dir = self.root / IMAGES
        if not self.annotations.is_file():
            raise PoseforgeError(f"COCO annotations not found: {self.annotations}")
        if not self.images_dir.is_dir():
            raise PoseforgeError(f"COCO image folder not found: {self.images_dir}")
        self.coco = load_coco(self.annotations)

    @property
    def name(self) -> str:
        """The image set's name: its folder's (coco-val, coco-mini, val2017, ...)."""
        return self.root.resolve().name

    def people(self, image_ids: list[int]) -> int:
        """Annotated people (non-crowd, with keypoints) on these images: what an AP is measured on."""
        return sum(
            1 for i in image_ids for a in self.coco.imgToAnns.get(i, []) if a["num_keypoints"] > 0 and not a["iscrowd"]
        )

    def provenance(self, image_ids: list[int], limit: int | None = None) -> dict[str, Any]:
        """What a measurement on `image_ids` was made on: the set, its annotations, which images."""
        return {
            "name": self.name,
            "annotations": str(self.annotations),
            "annotations_sha256": sha256_file(self.annotations),
            "image_ids_sha256": sha256_text(",".join(map(str, sorted(image_ids)))),
            "images_total": len(self.coco.imgs),
            "people": self.people(image_ids),
            "limit": limit,
        }

    def images(self, limit: int | None = None) -> list[CocoImage]:
        """Images in id order; with `limit`, the first `limit` of them."""
        ids = sorted(self.coco.getImgIds())[: limit if limit else None]
        return [
            CocoImage(i, info["file_name"], self.images_dir / info["file_name"], info["width"], info["height"])
            for i in ids
            for info in [self.coco.imgs[i]]
        ]


def load_coco(path: Path) -> Any:
    """pycocotools COCO from an annotation file, checked (documents.COCO_ANNOTATIONS): one-line
    errors for malformed files, which pycocotools itself would take and mis-score."""
    from pycocotools.coco import COCO

    data = read_document(path, COCO_ANNOTATIONS)
    person = [c for c in data["categories"] if c.get("name") == "person"]
    if len(person) != 1 or len(person[0].get("keypoints") or []) != 17:
        raise PoseforgeError(f"{path} has no 'person' category with 17 keypoints: not person_keypoints")
    ids = [image["id"] for image in data["images"]]
    if len(set(ids)) != len(ids):
        raise PoseforgeError(f"{path}: image ids are not unique")
    names = [image["file_name"] for image in data["images"]]
    if len(set(names)) != len(names) or any(n in (".", "..") for n in names):
        raise PoseforgeError(f"{path}: image file names are not distinct plain names")
    known = set(ids)
    stray = next((a for a in data["annotations"] if a["image_id"] not in known), None)
    if stray is not None:
        raise PoseforgeError(f"{path}: an annotation refers to image {stray['image_id']}, which is not listed")
    for ann in data["annotations"]:
        visibility = ann["keypoints"][2::3]
        if any(v not in (0, 1, 2) for v in visibility) or sum(v > 0 for v in visibility) != ann["num_keypoints"]:
            raise PoseforgeError(
                f"{path}: annotation {ann.get('id', '?')} of image {ann['image_id']} has keypoint visibilities "
                "that are not 0, 1, 2 or do not add up to its num_keypoints"
            )
    coco = COCO()
    coco.dataset = data
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            coco.createIndex()
    except (KeyError, TypeError) as exc:
        raise PoseforgeError(f"{path} has a malformed annotation or image entry ({exc!r})") from None
    return coco


def prefetch(
    images: list[CocoImage], prepare: Callable[[np.ndarray], Any], skip_bad: bool = False
) -> Iterator[tuple[CocoImage, Any]]:
    """Yield `(image, prepare(pixels))`, read and prepared a few images ahead in a thread.

    A bad image stops the run with its name; with `skip_bad` it is yielded with None in
    place of its data, so the caller can count and report it.
    """

    def items() -> Iterator[tuple[CocoImage, Any]]:
        for image in images:
            try:
                yield image, prepare(read_image(image.path))
            except PoseforgeError:
                if not skip_bad:
                    raise
                yield image, None

    return read_ahead(items(), PREFETCH)
