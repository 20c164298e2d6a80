"""The reference rule of agreement with FP32, on the real network's poses: the FP32 IR scores exactly 1
against itself even where it finds more people than pycocotools scores, weak fragments are not
ground truth, and the images a network was calibrated on are told apart by name or content."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from poseforge.errors import PoseforgeError
from poseforge.runtime import open_runner
from poseforge.validate.accuracy.agreement import (
    MIN_REFERENCE_SCORE,
    Reference,
    agreement,
    disjoint_images,
    folder_images,
    poses,
    reference_problem,
)
from poseforge.validate.accuracy.intervals import MAX_DETS, paired_difference

# coco-val's three photos with the most people the FP32 IR finds (44, 38 and 29, val protocol), and one more.
CROWDED = ("000000217285.jpg", "000000002299.jpg", "000000012670.jpg", "000000000139.jpg")


@pytest.fixture(scope="module")
def crowd(assets: Path, omz_build: Path) -> dict[str, list[dict]]:
    """The poses of the FP32 and FP16 IRs and of Intel's INT8 release on the crowded photos (val protocol)."""
    images = folder_images([assets / "coco-val" / "val2017" / name for name in CROWDED])
    irs = {"ir-fp32": "ir/fp32/model.xml", "ir-fp16": "ir/fp16/model.xml", "omz-int8": "ir/omz-int8/model.xml"}
    out = {name: poses(open_runner(omz_build / rel), images, "val") for name, rel in irs.items()}
    out["ids"] = [image.id for image in images]
    return out


def strong_per_image(results: list[dict]) -> Counter:
    return Counter(r["image_id"] for r in results if r["score"] >= MIN_REFERENCE_SCORE and any(r["keypoints"][2::3]))


def test_fp32_scores_one_against_itself_where_it_finds_more_people_than_pycocotools_scores(crowd: dict) -> None:
    fp32 = crowd["ir-fp32"]
    strong = strong_per_image(fp32)
    assert max(strong.values()) > MAX_DETS  # the case the rule is for: more people than pycocotools scores
    reference = Reference(fp32, crowd["ids"])
    assert reference.people == sum(min(n, MAX_DETS) for n in strong.values())
    ignored = [a for a in reference.coco.dataset["annotations"] if a["num_keypoints"] == 0]
    assert len(ignored) == sum(max(0, n - MAX_DETS) for n in strong.values())
    assert agreement(reference.matches(fp32)) == 1.0


def test_weak_people_are_not_ground_truth_and_missing_people_cost(crowd: dict) -> None:
    fp32 = crowd["ir-fp32"]
    reference = Reference(fp32, crowd["ids"])
    weak = [r for r in fp32 if r["score"] < MIN_REFERENCE_SCORE]
    strong = [r for r in fp32 if r["score"] >= MIN_REFERENCE_SCORE]
    assert weak and strong
    assert agreement(reference.matches(strong)) == 1.0  # the weak ones are never needed
    assert agreement(reference.matches(strong[1:])) < 1.0  # a reference person missed is
    assert agreement(reference.matches([])) == 0.0


def test_other_precisions_rank_by_closeness_to_fp32(crowd: dict) -> None:
    reference = Reference(crowd["ir-fp32"], crowd["ids"])
    fp16, intel = reference.matches(crowd["ir-fp16"]), reference.matches(crowd["omz-int8"])
    assert agreement(fp16) >= 0.98  # half-precision weights move a keypoint a little, if at all
    assert agreement(intel) < agreement(fp16)
    difference = paired_difference(intel, fp16, 200, 0)
    assert difference.ap == pytest.approx(agreement(fp16) - agreement(intel))


def test_no_reference_people_leaves_agreement_undefined(crowd: dict) -> None:
    weak_only = [r for r in crowd["ir-fp32"] if r["score"] < MIN_REFERENCE_SCORE]
    reference = Reference(weak_only, crowd["ids"])
    assert reference.people == 0 and agreement(reference.matches(crowd["ir-fp32"])) is None
    with pytest.raises(ValueError, match="no image ids"):
        Reference(crowd["ir-fp32"], [])


def test_calibration_images_are_left_out_by_name_or_content(assets: Path, tmp_path: Path) -> None:
    calib = sorted((assets / "coco-calib" / "train2017").glob("*.jpg"))[:6]
    folder = tmp_path / "footage"
    folder.mkdir()
    for path in calib:
        shutil.copy(path, folder / path.name)
    shutil.copy(calib[5], folder / "holiday.jpg")  # the same photo under another name
    kept, left_out = disjoint_images(folder, [calib[0], tmp_path / "gone" / calib[1].name, calib[5]])
    assert left_out == sorted([calib[0].name, calib[1].name, calib[5].name, "holiday.jpg"])
    assert [p.name for p in kept] == [p.name for p in calib[2:5]]
    with pytest.raises(PoseforgeError, match="image folder not found"):
        disjoint_images(tmp_path / "absent", [])


def test_a_reference_must_be_the_fp32_irs_f32_report_of_the_same_protocol_and_images() -> None:
    dataset = {"name": "coco-val", "annotations_sha256": "a" * 64, "image_ids_sha256": "b" * 64}
    run = {"artifact": "ir-int8", "precision_hint": "f32", "model": "m", "protocol": "val", "images": 3,
           "dataset": dataset}  # fmt: skip
    good = {**run, "artifact": "ir-fp32"}
    assert reference_problem(run, good) is None
    cases = {
        "a report of ir-fp32.bf16": {"precision_hint": "bf16"},
        "a report of ir-int8": {"artifact": "ir-int8"},
        "model other": {"model": "other"},
        "under the deploy protocol": {"protocol": "deploy"},
        "under the native@320 protocol": {"protocol": "native", "input_height": 320},
        "other images": {"dataset": {**dataset, "image_ids_sha256": "c" * 64}},
    }
    for message, change in cases.items():
        assert message in reference_problem(run, {**good, **change})
