"""INT8 with NNCF on the real network: the accuracy target, the known collapse and bad input.

Calibration is on coco-calib (COCO train2017 images) and AP is scored on coco-mini (val2017
images): never on the images a model was calibrated on.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from poseforge.errors import PoseforgeError
from poseforge.images import files_sha256
from poseforge.ir_files import read_ir
from poseforge.metadata import get_ir_metadata, network_metadata, set_ir_metadata
from poseforge.models import get_spec
from poseforge.quantize import ptq
from poseforge.quantize.agreement import agreement, pseudo_labels
from poseforge.quantize.calibration import CalibrationSet, select_calibration
from poseforge.quantize.ptq import quantize_ir
from poseforge.quantize.settings import QuantizeSettings
from poseforge.runtime import open_runner
from poseforge.runtime.options import ACCURACY
from poseforge.validate.accuracy.agreement import folder_images
from poseforge.validate.accuracy.dataset import CocoKeypoints
from poseforge.validate.accuracy.validate import coco_ap
from tests.conftest import run_cli

DEPLOY = ACCURACY.replace(shape=(1, 3, 256, 456))  # one image at the deploy shape
CONCAT_CONV = "refinement_stages.0.trunk.0.initial.0/Conv"  # the 1x1 after the refinement stage's concat
# For tests of what is quantized and recorded, not of accuracy: fast bias correction (one pass, not
# a pass per layer), a few seconds less each.
QUICK = {"fast_bias_correction": True}


@pytest.fixture(scope="module")
def coco(assets: Path) -> Path:
    return assets / "coco-mini"


@pytest.fixture(scope="module")
def calib(assets: Path) -> Path:
    return assets / "coco-calib" / "train2017"


@pytest.fixture(scope="module")
def fp32(omz_build: Path) -> Path:
    return omz_build / "ir" / "fp32" / "model.xml"


@pytest.fixture(scope="module")
def fp32_ap(fp32: Path, coco: Path) -> float:
    return int8_ap(fp32, coco)


def int8_ap(path: Path, coco: Path) -> float:
    dataset = CocoKeypoints(coco)
    return coco_ap(open_runner(path), dataset, dataset.images())["ap"]


def test_default_settings_keep_ap_within_one_point(default_int8: tuple[Path, dict], coco: Path, fp32_ap: float) -> None:
    """Calibrated as `make int8` does, on train2017 images the FP32 network finds people on, scored
    on val2017 images. (A smaller calibration sample costs AP: 96 of 240 candidates lost 0.016 on
    coco-mini on an AMX machine with these settings.)"""
    path, record = default_int8
    assert int8_ap(path, coco) >= fp32_ap - 0.010
    assert record["heatmap_peak_retention"] > 0.95
    assert record["float_layers"] == []  # every convolution, heads and the concat's 1x1 included


def test_int8_metadata_records_exactly_what_calibrated(default_int8: tuple[Path, dict], calib: Path) -> None:
    path, _ = default_int8
    meta = get_ir_metadata(read_ir(path))
    assert meta["artifact"] == "ir-int8" and meta["precision"] == "int8"
    q = meta["quantization"]
    settings = dataclasses.asdict(QuantizeSettings())
    assert q["settings"] == json.loads(json.dumps(settings))  # as JSON keeps it: tuples become lists
    c = q["calibration"]
    considered = min(QuantizeSettings().candidates, len(list(calib.glob("*.jpg"))))
    assert c["folder"] == str(calib.resolve()) and c["images_considered"] == considered
    assert c["selection"] == "people" and "FP32 network" in c["selection_rule"]
    assert 0 < c["images"] == len(c["files"]) <= QuantizeSettings().subset_size
    assert c["people_detected"] >= c["images"]
    assert c["sha256"] == files_sha256([calib / name for name in c["files"]])  # the images used, checkable
    assert q["tool"].startswith("nncf ")
    assert not any("overlap" in note for note in meta["notes"]) and "overlaps_validation" not in c
    ops = [op.get_type_name() for op in read_ir(path).get_ordered_ops()]
    assert ops.count("FakeQuantize") > 40  # really quantized


def test_people_selection_ranks_by_the_fp32_networks_own_detections(fp32: Path, calib: Path, tmp_path: Path) -> None:
    runner = open_runner(fp32, DEPLOY)
    chosen = select_calibration(calib, 5, "people", runner, 30)
    assert chosen.candidates == 30 and len(chosen.paths) == 5
    assert chosen.people == sorted(chosen.people, reverse=True) and min(chosen.people) >= 1
    by_name = select_calibration(calib, 5, "name", None, 30)
    assert [p.name for p in by_name.paths] == sorted(p.name for p in calib.iterdir())[:5]
    (tmp_path / "empty").mkdir()
    for i in range(3):
        cv2.imwrite(str(tmp_path / "empty" / f"{i}.png"), np.full((240, 320, 3), 90 + 40 * i, np.uint8))
    with pytest.raises(PoseforgeError, match=r"finds no person on any of the 3 images .*--select name"):
        select_calibration(tmp_path / "empty", 5, "people", runner)


def test_agreement_is_one_for_the_fp32_network_itself(fp32: Path, omz_build: Path, calib: Path) -> None:
    images = folder_images(select_calibration(calib, 6, "people", open_runner(fp32, DEPLOY), 30).paths)
    labels = pseudo_labels(open_runner(fp32), images)
    assert agreement(open_runner(fp32), labels) == pytest.approx(1.0)
    release = agreement(open_runner(omz_build / "ir" / "omz-int8" / "model.xml"), labels)
    assert 0.3 < release < 1.0  # Intel's INT8 finds the same people, not exactly the same keypoints


def test_nncf_defaults_collapse_and_the_checks_catch_it(
    fp32: Path, calib: Path, coco: Path, fp32_ap: float, tmp_path: Path
) -> None:
    """The known trap: NNCF's defaults (mean of per-image ranges, fast bias correction, every layer
    quantized) on images in name order, most of which hold no person, clip the heatmap peaks.
    Cosine would not show it; peak retention and AP do."""
    out = tmp_path / "model.xml"
    settings = QuantizeSettings(
        preset="performance", range_estimator="nncf-default", fast_bias_correction=True, ignore_heads=False,
        ignore_concat=False, select="name", subset_size=48,
    )  # fmt: skip
    record = quantize_ir(fp32, out, calib, settings, coco_dir=coco)
    assert record["heatmap_peak_retention"] < 0.9
    assert int8_ap(out, coco) < fp32_ap - 0.03


def test_heads_can_be_quantized_and_the_concat_kept_in_float(fp32: Path, calib: Path, tmp_path: Path) -> None:
    settings = QuantizeSettings(ignore_heads=False, ignore_concat=True, select="name", subset_size=8, **QUICK)
    out = tmp_path / "model.xml"
    record = quantize_ir(fp32, out, calib, settings)
    assert set(record["float_layers"]) == {CONCAT_CONV}
    assert record["calibration"]["images"] == 8 and record["calibration"]["selection"] == "name"


def test_calibrating_on_the_validation_images_is_refused_unless_allowed(fp32: Path, coco: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "model.xml"
    with pytest.raises(PoseforgeError, match=r"calibration folder .*coco-mini/val2017 shares images .*--allow-overlap"):
        quantize_ir(fp32, out, coco / "val2017", QuantizeSettings(select="name", subset_size=8, **QUICK), coco_dir=coco)
    assert not out.parent.exists()
    settings = QuantizeSettings(select="name", subset_size=8, **QUICK)
    record = quantize_ir(fp32, out, coco / "val2017", settings, coco_dir=coco, allow_overlap=True)
    assert record["calibration"]["overlaps_validation"] == str(coco.resolve())
    assert any("overlap" in note for note in get_ir_metadata(read_ir(out))["notes"])


def test_the_cli_checks_calibration_against_the_default_validation_set(fp32: Path, coco: Path, tmp_path: Path) -> None:
    """Without --coco, quantize checked nothing, and validate scores the data directory's coco-val by
    default: calibrating on its images (here under other names) went unnoticed."""
    data = tmp_path / "data"
    shutil.copytree(coco, data / "coco-val")
    calib = tmp_path / "mine"
    calib.mkdir()
    for i, image in enumerate(sorted((coco / "val2017").glob("*.jpg"))[:2]):
        shutil.copy(image, calib / f"frame{i}.jpg")
    out = tmp_path / "out" / "model.xml"
    env = {**os.environ, "POSEFORGE_DATA": str(data)}
    result = run_cli("quantize", str(fp32), "--calib", str(calib), "--select", "name", "-o", str(out), env=env)
    assert result.returncode == 1, result.stderr
    assert f"calibration folder {calib} shares images with the validation images of {data / 'coco-val'}" in (
        result.stderr
    )
    assert not out.parent.exists()


def test_bad_calibration_folders(fp32: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "model.xml"
    with pytest.raises(PoseforgeError, match="calibration folder not found"):
        quantize_ir(fp32, out, tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PoseforgeError, match="holds no images"):
        quantize_ir(fp32, out, tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(PoseforgeError, match=r"1 calibration image in .* does not decode, e.g. a\.jpg"):
        quantize_ir(fp32, out, tmp_path / "bad")
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_only_fp32_irs_are_quantized(omz_build: Path, calib: Path, tmp_path: Path) -> None:
    for rel, precision in (("ir/fp16/model.xml", "fp16"), ("ir/omz-int8/model.xml", "int8")):
        with pytest.raises(PoseforgeError, match=f"is a {precision} IR .*quantize needs the FP32 IR"):
            quantize_ir(omz_build / rel, tmp_path / "model.xml", calib)
    with pytest.raises(PoseforgeError, match="is not KIND:VALUE"):
        quantize_ir(omz_build / "ir/fp32/model.xml", tmp_path / "m.xml", calib,
                    QuantizeSettings(ignored_scope=("layer.conv",)))  # fmt: skip
    with pytest.raises(PoseforgeError, match="unknown calibration selection 'best'"):
        quantize_ir(omz_build / "ir/fp32/model.xml", tmp_path / "m.xml", calib, QuantizeSettings(select="best"))
    assert list(tmp_path.iterdir()) == []


def tiny_fp32_ir(path: Path) -> Path:
    """A real FP32 IR of a few layers, raw pixels in, maps at stride 8 out (a stride-8 convolution, then
    a ReLU and a head convolution for each map), with poseforge's metadata: quantize runs it as the network."""
    import openvino as ov
    from openvino import opset13 as ops

    data = ops.parameter(ov.PartialShape([1, 3, -1, -1]), np.float32, name="data")
    weights = np.random.default_rng(0).normal(0, 0.01, (8, 3, 8, 8)).astype(np.float32)
    stem = ops.relu(ops.convolution(data, ops.constant(weights), [8, 8], [0, 0], [0, 0], [1, 1]))
    stem.set_friendly_name("stem/relu")
    stem.input_value(0).get_node().set_friendly_name("stem/conv")
    maps = []
    for name, channels in (("heatmaps", 19), ("pafs", 38)):
        head = ops.convolution(stem, ops.constant(np.full((channels, 8, 1, 1), 0.1, np.float32)), [1, 1], [0, 0],
                               [0, 0], [1, 1])  # fmt: skip
        head.set_friendly_name(f"{name}/conv")
        head.output(0).get_tensor().set_names({name})
        maps.append(head)
    model = ov.Model(maps, [data])
    model_name = "lightweight-openpose"
    meta = network_metadata(model_name, get_spec(model_name).normalization, {"kind": "test"})
    set_ir_metadata(model, {**meta, "artifact": "ir-fp32", "precision": "fp32"})
    ov.save_model(model, str(path), compress_to_fp16=False)
    return path


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        ("type:Concat", "no node of the model is of type Concat (its types: Constant, Convolution, Parameter, Relu, "
                        "Result)"),
        ("name:stem/cnv", "no node of the model is named so (nearest names: stem/conv)"),
        ("pattern:conv", "the pattern matches no node name from its start (names such as stem/conv, stem/relu, "
                         "pafs/conv, ...)"),
    ],
)  # fmt: skip
def test_an_ignored_scope_that_matches_no_node_is_refused_before_calibrating(
    entry: str, said: str, calib: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # fmt: skip
    """NNCF refused it only after the calibration images were chosen and run, in its own words (naming
    neither the option nor what the model holds)."""
    fp32 = tiny_fp32_ir(tmp_path / "fp32" / "model.xml")
    chosen = []

    def select(*args: object) -> CalibrationSet:
        chosen.append(args)
        return select_calibration(*args)

    monkeypatch.setattr(ptq, "select_calibration", select)
    out = tmp_path / "out" / "model.xml"
    settings = QuantizeSettings(ignored_scope=(entry,), select="name", subset_size=2, **QUICK)
    with pytest.raises(PoseforgeError, match=f"^ignored scope '{re.escape(entry)}': {re.escape(said)}$"):
        quantize_ir(fp32, out, calib, settings)
    assert chosen == [] and not out.parent.exists()
    result = run_cli("quantize", str(fp32), "--calib", str(calib), "--ignored-scope", entry, "-o", str(out))
    assert result.returncode == 1 and result.stderr == f"poseforge: error: ignored scope {entry!r}: {said}\n"
    assert not out.parent.exists()


def test_accuracy_control_uses_the_fp32_networks_poses_not_the_validation_set(
    fp32: Path, calib: Path, tmp_path: Path
) -> None:
    """A target the fully quantized model meets at once: NNCF validates twice (FP32, INT8) on
    calibration images against the FP32 poses, and the agreement is recorded."""
    out = tmp_path / "model.xml"
    settings = QuantizeSettings(max_drop=0.6, subset_size=8, candidates=30, **QUICK)
    record = quantize_ir(fp32, out, calib, settings, validation_limit=6)
    a = record["accuracy_control"]
    assert a["images"] == 6 and a["fp32_agreement"] == 1.0 and 0.4 <= a["int8_agreement"] <= 1.0
    assert "FP32 poses" in a["metric"]


def test_accuracy_control_can_measure_on_held_out_images(fp32: Path, calib: Path, coco: Path, tmp_path: Path) -> None:
    """The calibration folder's own images beyond those that calibrated (the first eight by name; a
    `people` selection would leave only person-free ones among the first few): agreement on images
    disjoint from both calibration and the validation set, recorded with what they were."""
    out = tmp_path / "model.xml"
    settings = QuantizeSettings(max_drop=0.6, subset_size=8, select="name", **QUICK)
    record = quantize_ir(fp32, out, calib, settings, coco_dir=coco, validation_limit=6, agreement_dir=calib)
    a, used = record["accuracy_control"], record["calibration"]["files"]
    assert a["held_out"] and a["left_out"] == len(used) == 8 and a["folder"] == str(calib.resolve())
    assert len(a["files"]) == a["images"] == 6 and not set(a["files"]) & set(used) and a["people"] > 0
    assert a["files"] == [p.name for p in sorted(calib.iterdir()) if p.name not in used][:6]
    assert a["sha256"] == files_sha256([calib / name for name in a["files"]]) and "held-out" in a["metric"]


def test_agreement_images_are_refused_among_the_validation_images_or_without_accuracy_control(
    fp32: Path, calib: Path, coco: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "model.xml"
    settings = QuantizeSettings(max_drop=0.1, select="name", subset_size=8, **QUICK)
    with pytest.raises(PoseforgeError, match=r"agreement image folder .*coco-mini/val2017 shares images .*scored on"):
        quantize_ir(fp32, out, calib, settings, coco_dir=coco, agreement_dir=coco / "val2017")
    with pytest.raises(PoseforgeError, match="agreement images are for accuracy control"):
        quantize_ir(fp32, out, calib, QuantizeSettings(select="name", subset_size=8), agreement_dir=calib)
    assert not out.parent.exists()


def test_an_unmet_accuracy_target_is_reported_and_nothing_written(
    fp32: Path, calib: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NNCF's search is replaced by a model that lost accuracy (NNCF's defaults): what NNCF hands
    back is measured again, and refused when outside the drop."""
    import nncf

    def lossy(model, calibration, *args, **kwargs):
        return nncf.quantize(model, calibration, subset_size=8)

    monkeypatch.setattr(nncf, "quantize_with_accuracy_control", lossy)
    out = tmp_path / "model.xml"
    settings = QuantizeSettings(max_drop=0.001, subset_size=8, select="name")
    with pytest.raises(PoseforgeError, match=r"accuracy target not met: .* > max drop 0\.001\); nothing written"):
        quantize_ir(fp32, out, calib, settings, validation_limit=8)
    assert list(tmp_path.iterdir()) == []


def test_overlap_detection(coco: Path, calib: Path, tmp_path: Path) -> None:
    assert ptq.overlaps(coco / "val2017", coco)
    assert not ptq.overlaps(calib, coco)
    (tmp_path / "mine").mkdir()
    first = next((coco / "val2017").iterdir())
    shutil.copy(first, tmp_path / "mine")
    assert ptq.overlaps(tmp_path / "mine", coco)
    (tmp_path / "renamed").mkdir()
    shutil.copy(first, tmp_path / "renamed" / "holiday.jpg")  # the same image under another name
    assert ptq.overlaps(tmp_path / "renamed", coco)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.jpg").write_bytes(b"")
    assert not ptq.overlaps(tmp_path / "other", coco)


def test_calibration_without_people_writes_a_readable_ir_with_no_peak_retention(fp32: Path, tmp_path: Path) -> None:
    """No heatmap peak to compare on person-free images: the record says None (not NaN, which no
    JSON reader takes back) and the IR's metadata reads back."""
    (tmp_path / "empty").mkdir()
    for i in range(3):
        cv2.imwrite(str(tmp_path / "empty" / f"{i}.png"), np.full((240, 320, 3), 60 + 50 * i, np.uint8))
    out = tmp_path / "model.xml"
    record = quantize_ir(fp32, out, tmp_path / "empty", QuantizeSettings(select="name", subset_size=3, **QUICK))
    assert record["heatmap_peak_retention"] is None
    assert get_ir_metadata(read_ir(out))["quantization"]["heatmap_peak_retention"] is None
