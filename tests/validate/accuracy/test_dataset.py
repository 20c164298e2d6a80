"""COCO data: clear errors for missing or malformed annotations and for images that do not decode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from poseforge.errors import PoseforgeError
from poseforge.validate.accuracy.dataset import CocoKeypoints, prefetch


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
        ("{not json", "is not a valid COCO annotation file"),
        ('{"images": [], "annotations": []}', "field categories: missing"),
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
    with pytest.raises(PoseforgeError, match=r"field annotations\[0\]\.image_id: missing"):
        CocoKeypoints(small_coco)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d["annotations"][0].update(keypoints=[1.0, 2.0]), r"keypoints: a list of 2 entries"),
        (lambda d: d["annotations"][0].update(num_keypoints=True), "expected an integer, got boolean"),
        (lambda d: d["annotations"][0]["keypoints"].__setitem__(2, 7), "visibilities"),
        (lambda d: d["images"][0].update(file_name="../../etc/passwd"), "file_name"),
        (lambda d: d["images"].append(dict(d["images"][0])), "image ids are not unique"),
        (lambda d: d["annotations"][0].update(image_id=10**9), "not listed"),
        (lambda d: d["images"][0].update(width=-5), r"images\[0\]\.width"),
    ],
)
def test_hostile_annotations_are_refused_by_field(small_coco: Path, edit, match: str) -> None:
    data = json.loads(annotations(small_coco).read_text())
    edit(data)
    annotations(small_coco).write_text(json.dumps(data))
    with pytest.raises(PoseforgeError, match=match):
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
