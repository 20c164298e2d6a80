"""COCO data: clear errors for missing or malformed annotations and for images that do not decode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from poseforge.errors import PoseforgeError
from poseforge.validate.dataset import CocoKeypoints, prefetch


def annotations(coco: Path) -> Path:
    return coco / "annotations" / "person_keypoints_val2017.json"


def test_missing_annotations_and_images(tmp_path: Path, small_coco: Path) -> None:
    with pytest.raises(PoseforgeError, match="COCO annotations not found"):
        CocoKeypoints(tmp_path / "nowhere")
    (small_coco / "val2017").rename(small_coco / "images")
    with pytest.raises(PoseforgeError, match="COCO image folder not found"):
        CocoKeypoints(small_coco)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "is not valid JSON"),
        ('{"images": [], "annotations": []}', "no categories list"),
        ('{"images": [], "annotations": [], "categories": [{"id": 1, "name": "dog"}]}', "no 'person' category"),
    ],
)
def test_malformed_annotations(small_coco: Path, content: str, match: str) -> None:
    annotations(small_coco).write_text(content)
    with pytest.raises(PoseforgeError, match=match):
        CocoKeypoints(small_coco)


def test_malformed_annotation_entry(small_coco: Path) -> None:
    data = json.loads(annotations(small_coco).read_text())
    del data["annotations"][0]["image_id"]
    annotations(small_coco).write_text(json.dumps(data))
    with pytest.raises(PoseforgeError, match="malformed annotation"):
        CocoKeypoints(small_coco)


def test_images_stream_in_id_order_and_a_bad_one_is_named(small_coco: Path) -> None:
    dataset = CocoKeypoints(small_coco)
    images = dataset.images()
    assert [i.id for i in images] == sorted(i.id for i in images) and len(images) == 3
    assert [i.id for i in dataset.images(limit=2)] == [i.id for i in images[:2]]
    bad = images[1]
    bad.path.write_bytes(b"\xff\xd8 truncated jpeg")
    with pytest.raises(PoseforgeError, match=f"cannot read image {bad.file_name}"):
        list(prefetch(images, lambda pixels: pixels.shape))
    seen = list(prefetch(images, lambda pixels: pixels.shape, skip_bad=True))
    assert [(i.id, shape is None) for i, shape in seen] == [(i.id, i.id == bad.id) for i in images]
