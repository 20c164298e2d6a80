"""bench-scaling: its output is claimed before the minutes of measuring, not after them; its replicated set
holds every person of the set it repeats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from poseforge.cluster.scaling import ID_STRIDE, replicated_coco
from poseforge.errors import PoseforgeError
from poseforge.validate.accuracy.dataset import load_coco
from tests.conftest import run_cli
from tests.validate.conftest import make_coco


def test_an_output_it_may_not_replace_is_refused_before_measuring(omz_build: Path, tmp_path: Path) -> None:
    mine = tmp_path / "scaling.json"
    mine.write_text("the user's own")
    result = run_cli("bench-scaling", str(omz_build / "ir" / "fp32" / "model.xml"), "-o", str(mine), cwd=tmp_path)
    assert result.returncode == 1 and "was not written by poseforge" in result.stderr, result.stderr
    assert "single process" not in result.stdout  # nothing was measured
    assert mine.read_text() == "the user's own"


def test_replicas_keep_every_annotation_of_a_crowded_image(assets: Path, tmp_path: Path) -> None:
    """Annotation ids were image id * 100 + k: in a set numbered 1, 2, ... (as a user's own set often is),
    an image of 100 people or more gave ids of the next image's people, and pycocotools kept one of each
    (people lost from the replicated set's ground truth)."""
    source = make_coco(tmp_path / "source", assets, 2)
    annotations = source / "annotations" / "person_keypoints_val2017.json"
    data = json.loads(annotations.read_text())
    numbered = {image["id"]: n for n, image in enumerate(sorted(data["images"], key=lambda i: i["id"]), 1)}
    data["images"] = [{**image, "id": numbered[image["id"]]} for image in data["images"]]
    data["annotations"] = [{**a, "image_id": numbered[a["image_id"]]} for a in data["annotations"]]
    crowd = next(a for a in data["annotations"] if a["image_id"] == 1)
    top = max(a["id"] for a in data["annotations"])
    data["annotations"] += [{**crowd, "id": top + k} for k in range(1, 121)]
    annotations.write_text(json.dumps(data))
    replicated = replicated_coco(source, 6, tmp_path / "replicated")
    coco = load_coco(replicated / "annotations" / "person_keypoints_val2017.json")
    assert len(coco.anns) == 3 * len(data["annotations"])  # 6 images: the 2 of the source, 3 times


def test_image_ids_beyond_the_replica_stride_are_refused(assets: Path, tmp_path: Path) -> None:
    source = make_coco(tmp_path / "source", assets, 1)
    annotations = source / "annotations" / "person_keypoints_val2017.json"
    data = json.loads(annotations.read_text())
    data["annotations"] = [{**a, "image_id": ID_STRIDE + 5} for a in data["annotations"]]
    data["images"] = [{**i, "id": ID_STRIDE + 5} for i in data["images"]]
    annotations.write_text(json.dumps(data))
    with pytest.raises(PoseforgeError, match=f"holds image id {ID_STRIDE + 5}"):
        replicated_coco(source, 2, tmp_path / "replicated")
