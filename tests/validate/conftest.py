"""Fixtures for the validate stage: a small COCO directory built from the real coco-mini."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from poseforge.fetch import cut_annotations

# A sweep's settings small enough for a test: rows calibrate on 4 images and time 0.2 s.
SMALL_SWEEP = """
[inputs]
fp32 = "{fp32}"
coco = "{coco}"
seconds = 0.2

[base]
subset_size = 4
select = "name"
fast_bias_correction = true
"""


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


def linked_copy(build: Path, folder: Path) -> Path:
    """A model folder under `folder` with `build`'s reports and bench.json copied (tests edit them) and its
    FP32 and INT8 IRs linked (only read)."""
    copy = folder / "human-pose-estimation-0001"
    shutil.copytree(build / "reports", copy / "reports")
    shutil.copy(build / "bench.json", copy / "bench.json")
    (copy / "ir").mkdir()
    for precision in ("fp32", "int8"):
        (copy / "ir" / precision).symlink_to(build / "ir" / precision, target_is_directory=True)
    return copy


@pytest.fixture(scope="session")
def gate_build(
    omz_build: Path, default_int8: tuple[Path, dict], assets: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A model directory whose reports/ come from real runs of the FP32 IR and the default INT8 IR on a
    12-image COCO set (the whole set: not a subset), and whose bench.json measured them in one run."""
    from poseforge.validate.accuracy.validate import validate_artifact
    from poseforge.validate.speed.bench import run_bench

    root = tmp_path_factory.mktemp("gate")
    coco = make_coco(root / "coco", assets, GATE_IMAGES)
    model_dir = root / "human-pose-estimation-0001"
    shutil.copytree(omz_build / "ir" / "fp32", model_dir / "ir" / "fp32")
    int8 = model_dir / "ir" / "int8" / "model.xml"
    int8.parent.mkdir(parents=True)
    for suffix in (".xml", ".bin"):
        shutil.copy(default_int8[0].with_suffix(suffix), int8.with_suffix(suffix))
    for name, path in (("ir-fp32", model_dir / "ir/fp32/model.xml"), ("ir-int8", int8)):
        for protocol in ("val", "deploy"):
            validate_artifact(path, coco, protocol, model_dir / "reports" / f"{name}-{protocol}.json", measure=False)
    run_bench(model_dir, coco, seconds=1.0, rounds=2, output=model_dir / "bench.json")
    return model_dir


GATE_IMAGES = 12  # images with people: enough for real AP figures, quick to run


@pytest.fixture
def small_coco(tmp_path: Path, assets: Path) -> Path:
    return make_coco(tmp_path / "coco", assets, 3)


@pytest.fixture(scope="session")
def height_build(gate_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """gate_build's reports and IRs, with both IRs validated under the native protocol at the default
    height and at 320 (the height table's accuracy), and a bench that timed them at both heights."""
    from poseforge.artifacts import BY_NAME, protocol_key
    from poseforge.validate.accuracy.validate import validate_artifact
    from poseforge.validate.speed.bench import run_bench

    model_dir = tmp_path_factory.mktemp("heights") / "human-pose-estimation-0001"
    shutil.copytree(gate_build / "reports", model_dir / "reports")
    (model_dir / "ir").mkdir()
    for precision in ("fp32", "int8"):
        (model_dir / "ir" / precision).symlink_to(gate_build / "ir" / precision)
    coco = gate_build.parent / "coco"
    for name in ("ir-fp32", "ir-int8"):
        for height in (None, HEIGHT):
            out = model_dir / "reports" / f"{name}-{protocol_key('native', height)}.json"
            validate_artifact(model_dir / BY_NAME[name].file, coco, "native", out, measure=False, input_height=height)
    run_bench(model_dir, coco, seconds=1.0, rounds=2, output=model_dir / "bench.json")
    return model_dir


HEIGHT = 320  # height_build's other native height
