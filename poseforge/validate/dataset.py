"""COCO keypoint data: the annotations, and the images streamed from disk.

A COCO directory holds `annotations/person_keypoints_val2017.json` and `val2017/`. Images
are read by a background thread into a small bounded queue, so a 5,000-image val2017 runs
in bounded memory and reading overlaps inference.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from poseforge.background import read_ahead
from poseforge.errors import PoseforgeError

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

    def images(self, limit: int | None = None) -> list[CocoImage]:
        """Images in id order; with `limit`, the first `limit` of them."""
        ids = sorted(self.coco.getImgIds())[: limit if limit else None]
        return [
            CocoImage(i, info["file_name"], self.images_dir / info["file_name"], info["width"], info["height"])
            for i in ids
            for info in [self.coco.imgs[i]]
        ]


def load_coco(path: Path) -> Any:
    """pycocotools COCO from an annotation file, with one-line errors for malformed files."""
    from pycocotools.coco import COCO

    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PoseforgeError(f"{path} is not valid JSON ({exc})") from None
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(data.get(k), list)]
    if missing:
        raise PoseforgeError(f"{path} is not a COCO annotation file: no {', '.join(missing)} list")
    person = [c for c in data["categories"] if c.get("name") == "person"]
    if not person or len(person[0].get("keypoints", [])) != 17:
        raise PoseforgeError(f"{path} has no 'person' category with 17 keypoints: not person_keypoints")
    coco = COCO()
    coco.dataset = data
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            coco.createIndex()
    except (KeyError, TypeError) as exc:
        raise PoseforgeError(f"{path} has a malformed annotation or image entry ({exc!r})") from None
    return coco


def read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise PoseforgeError(f"cannot read image {path.name}: missing, unreadable or not an image ({path})")
    return image


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
