"""Fixtures for the validate stage: a small COCO directory built from the real coco-mini."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from poseforge.fetch import cut_annotations


def make_coco(root: Path, assets: Path, count: int) -> Path:
    """A COCO directory with the first `count` coco-mini images that hold annotated people."""
    full = json.loads((assets / "coco-mini" / "annotations" / "person_keypoints_val2017.json").read_text())
    ids = sorted({a["image_id"] for a in full["annotations"] if a["num_keypoints"] > 0})[:count]
    subset = cut_annotations(full, ids)
    (root / "annotations").mkdir(parents=True)
    (root / "val2017").mkdir()
    (root / "annotations" / "person_keypoints_val2017.json").write_text(json.dumps(subset))
    for image in subset["images"]:
        shutil.copy(assets / "coco-mini" / "val2017" / image["file_name"], root / "val2017")
    return root


@pytest.fixture
def small_coco(tmp_path: Path, assets: Path) -> Path:
    return make_coco(tmp_path / "coco", assets, 3)
