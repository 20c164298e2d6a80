"""`poseforge predict` on images: drawn copies, poses.json that COCO scores, clear refusals."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import cv2
import pytest

from poseforge.deploy.outputs import read_summary
from poseforge.documents import RESULTS, read_document
from poseforge.validate.accuracy.dataset import load_coco
from poseforge.validate.accuracy.scoring import coco_keypoint_metrics
from poseforge.validate.accuracy.validate import read_report
from tests.bundle.made import HEIGHT, Made
from tests.conftest import run_cli

ANNOTATIONS = "coco-mini/annotations/person_keypoints_val2017.json"


def test_a_folder_of_coco_images(made: Made, assets: Path, tmp_path: Path) -> None:
    images = assets / "coco-mini" / "val2017"
    out = tmp_path / "out"
    # f32 as the report it is compared with below (the default, auto, is tested in tests/deploy/test_precision.py)
    result = run_cli("predict", str(made.bundle), str(images), "-o", str(out), "--input-size", "letterbox",
                     "--precision-hint", "f32")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert " fps end to end; compile " in result.stdout and "precision hint f32" in result.stdout
    assert "slowest stage" in result.stdout and result.stdout.startswith("bundle: human-pose-estimation-0001 fp32")
    assert "licence: Weights from" in result.stdout

    names = sorted(p.name for p in images.glob("*.jpg"))
    assert sorted(p.name for p in out.iterdir()) == sorted([*names, "poses.json", "predict.json"])
    for name in names[:3]:  # drawn at the original size, and drawn on
        original, drawn = cv2.imread(str(images / name)), cv2.imread(str(out / name))
        assert drawn.shape == original.shape
    summary = json.loads((out / "predict.json").read_text())
    assert summary["kind"] == "folder" and summary["frames"] == 79 and summary["fps"] > 0
    assert summary["runtime"]["input"] == "uint8 NHWC" and summary["runtime"]["precision_hint"] == "f32"
    assert set(summary["timings_ms"]) == {"read", "preprocess", "infer", "decode", "draw", "write"}
    assert [i["image_id"] for i in summary["images"]] == [int(n[:-4]) for n in names]  # COCO ids from names

    # Letterboxed, as the deploy protocol, with the shared decoder: poses.json scores what validate scored.
    coco = load_coco(assets / ANNOTATIONS)
    poses = json.loads((out / "poses.json").read_text())
    assert sum(i["people"] for i in summary["images"]) == len(poses) == summary["people"]
    ap = coco_keypoint_metrics(coco, poses, sorted(coco.getImgIds()))["ap"]
    assert abs(ap - read_report(made.model_dir / "reports" / "ir-fp32-deploy.json")["ap"]) <= 0.002


def test_a_taller_input_height_is_what_runs_and_what_is_cited(made: Made, assets: Path, tmp_path: Path) -> None:
    """--height 320: poses.json scores what validate scored at that height, and the first line leads with it."""
    out = tmp_path / "out"
    result = run_cli("predict", str(made.bundle), str(assets / "coco-mini" / "val2017"), "-o", str(out), "--height",
                     str(HEIGHT), "--save", "poses", "--precision-hint", "f32")  # fmt: skip  # f32, as the report
    assert result.returncode == 0, result.stderr
    report = read_report(made.model_dir / "reports" / f"ir-fp32-native@{HEIGHT}.json")
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"bundle: human-pose-estimation-0001 fp32: native AP {report['ap']:.3f} [")
    assert f"at input height {HEIGHT} (what runs);" in first
    assert f"at native input size (height {HEIGHT})" in result.stdout
    summary = json.loads((out / "predict.json").read_text())
    assert summary["input_height"] == HEIGHT and summary["runtime"]["input_height"] == HEIGHT
    coco = load_coco(assets / ANNOTATIONS)
    ap = coco_keypoint_metrics(coco, json.loads((out / "poses.json").read_text()), sorted(coco.getImgIds()))["ap"]
    assert abs(ap - report["ap"]) <= 0.002


def test_names_that_are_not_numbers_get_indices(made: Made, coco_images: list[Path], tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for source, name in zip(coco_images[:3], ("b.jpg", "a.png", "000000000139.jpg"), strict=True):
        cv2.imwrite(str(folder / name), cv2.imread(str(source)))
    (folder / "notes.txt").write_text("not an image: ignored")
    out = tmp_path / "out"
    result = run_cli("predict", str(made.bundle), str(folder), "-o", str(out))
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "predict.json").read_text())
    assert [(i["name"], i["image_id"]) for i in summary["images"]] == [
        ("000000000139.jpg", 0), ("a.png", 1), ("b.jpg", 2)
    ]  # fmt: skip
    assert (out / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not (out / "notes.txt").exists()


def test_a_number_too_long_for_poses_json_is_no_id(made: Made, coco_images: list[Path], tmp_path: Path) -> None:
    """A file name of 39 digits would give an id that poseforge's readers refuse (30 digits at most):
    every image gets its index instead, and the folder written is one the next run recognises as its own."""
    folder = tmp_path / "photos"
    folder.mkdir()
    long_name = "123456789012345678901234567890123456789.jpg"
    for source, name in zip(coco_images[:2], ("000000000139.jpg", long_name), strict=True):
        shutil.copy(source, folder / name)
    out = tmp_path / "out"
    for _ in range(2):  # the second run replaces the first's folder: it must read its predict.json
        result = run_cli("predict", str(made.bundle), str(folder), "-o", str(out), "--save", "poses")
        assert result.returncode == 0, result.stderr
    summary = read_summary(out / "predict.json")
    assert [(i["name"], i["image_id"]) for i in summary["images"]] == [("000000000139.jpg", 0), (long_name, 1)]
    assert {p["image_id"] for p in read_document(out / "poses.json", RESULTS)} <= {0, 1}


def test_a_single_image(made: Made, coco_images: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("predict", str(made.bundle), str(coco_images[0]), "-o", str(out))
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "predict.json").read_text())
    assert summary["kind"] == "image" and summary["images"][0]["image_id"] == int(coco_images[0].stem)
    assert (out / coco_images[0].name).is_file()


def test_a_corrupt_image_is_named_and_nothing_is_written(made: Made, coco_images: list[Path], tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for source in coco_images[:3]:
        shutil.copy(source, folder)
    bad = folder / "000000000999.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "out"
    result = run_cli("predict", str(made.bundle), str(folder), "-o", str(out))
    assert result.returncode == 1 and f"poseforge: error: cannot read image {bad.name}" in result.stderr
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["photos"]

    result = run_cli("predict", str(made.bundle), str(folder), "-o", str(out), "--skip-bad")
    assert result.returncode == 0, result.stderr
    assert "1 skipped" in result.stdout
    summary = json.loads((out / "predict.json").read_text())
    assert summary["skipped"] == [bad.name] and summary["frames"] == 3 and not (out / bad.name).exists()


def test_an_output_folder_that_is_not_ours_is_left_alone(made: Made, coco_images: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    result = run_cli("predict", str(made.bundle), str(coco_images[0]), "-o", str(out))
    assert result.returncode == 1 and "is not an earlier poseforge output" in result.stderr
    assert [p.name for p in out.iterdir()] == ["thesis.tex"]

    (out / "thesis.tex").unlink()  # an empty folder, then an earlier predict output, are replaced
    for _ in range(2):
        result = run_cli("predict", str(made.bundle), str(coco_images[0]), "-o", str(out))
        assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted([coco_images[0].name, "poses.json", "predict.json"])


def test_predict_takes_only_bundles_and_known_inputs(made: Made, omz_build: Path, tmp_path: Path) -> None:
    ir = omz_build / "ir" / "fp32" / "model.xml"
    result = run_cli("predict", str(ir), str(tmp_path), "-o", str(tmp_path / "out"))
    assert result.returncode == 1 and "is not a bundle" in result.stderr
    (tmp_path / "notes.txt").write_text("x")
    result = run_cli("predict", str(made.bundle), str(tmp_path / "notes.txt"), "-o", str(tmp_path / "out"))
    assert result.returncode == 1 and "notes.txt is neither an image" in result.stderr
    assert result.stderr.count("\n") == 1 and not (tmp_path / "out").exists()


def test_the_bundle_replaced_during_a_run_is_not_what_predict_json_records(
    made: Made, coco_images: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deployment swaps in a new bundle (rename over it) while predict runs the old one: predict.json
    records the sha256 of the archive that was verified and ran, not of what the path holds at the end."""
    from poseforge.deploy import predict as module

    bundle = shutil.copy(made.bundle, tmp_path / "current.tar.gz")
    ran = hashlib.sha256(Path(bundle).read_bytes()).hexdigest()
    real = module.PoseEstimator

    def then_replaced(*args: Any, **kwargs: Any) -> Any:
        estimator = real(*args, **kwargs)  # verified and read: the run uses these bytes
        swap = tmp_path / "next.tar.gz"
        swap.write_bytes(b"the next release")
        swap.replace(bundle)
        return estimator

    monkeypatch.setattr(module, "PoseEstimator", then_replaced)
    summary = module.predict(bundle, coco_images[0], tmp_path / "out", save="poses")
    assert summary["bundle_sha256"] == ran
    assert read_summary(tmp_path / "out" / "predict.json")["bundle_sha256"] == ran
