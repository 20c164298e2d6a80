"""The gate: passes on its own baseline, turns red on a worse report, and is closed by construction:
each way a poisoned baseline or a foreign report used to pass now fails, with its reason."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from poseforge.errors import PoseforgeError
from poseforge.quantize.ptq import quantize_ir
from poseforge.quantize.settings import QuantizeSettings
from poseforge.validate.accuracy.validate import validate_artifact
from poseforge.validate.gate import read_baseline, run_gate, write_baseline
from poseforge.validate.speed.bench import run_bench
from tests.conftest import run_cli
from tests.validate.conftest import make_coco

IMAGES = 12  # images with people: enough for real AP figures, quick to run


@pytest.fixture(scope="module")
def reports_dir(omz_build: Path, assets: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory whose reports/ come from real runs of an FP32 and an INT8 IR on a
    12-image COCO set (the whole set: not a subset)."""
    root = tmp_path_factory.mktemp("gate")
    coco = make_coco(root / "coco", assets, IMAGES)
    model_dir = root / "human-pose-estimation-0001"
    shutil.copytree(omz_build / "ir" / "fp32", model_dir / "ir" / "fp32")
    int8 = model_dir / "ir" / "int8" / "model.xml"
    calib = assets / "coco-calib" / "train2017"
    quantize_ir(model_dir / "ir/fp32/model.xml", int8, calib, QuantizeSettings(subset_size=8, select="name"))
    for name, path in (("ir-fp32", model_dir / "ir/fp32/model.xml"), ("ir-int8", int8)):
        for protocol in ("val", "deploy"):
            validate_artifact(path, coco, protocol, model_dir / "reports" / f"{name}-{protocol}.json", measure=False)
    run_bench(model_dir, coco, seconds=1.0, rounds=1, output=model_dir / "bench.json")
    return model_dir


@pytest.fixture
def model_dir(reports_dir: Path, tmp_path: Path) -> Path:
    """A fresh copy per test (the IRs are linked: they are only read), with a baseline from its own reports."""
    copy = tmp_path / "human-pose-estimation-0001"
    shutil.copytree(reports_dir / "reports", copy / "reports")
    shutil.copy(reports_dir / "bench.json", copy / "bench.json")
    for precision in ("fp32", "int8"):
        (copy / "ir").mkdir(exist_ok=True)
        (copy / "ir" / precision).symlink_to(reports_dir / "ir" / precision)
    write_baseline(copy, tmp_path / "baseline.json")
    return copy


def edit(path: Path, **changes) -> None:
    """Change fields of a JSON file; a__b is a["b"]; a callable value maps the old one."""
    data = json.loads(path.read_text())
    for key, value in changes.items():
        target = data
        *parents, leaf = key.split("__")
        for parent in parents:
            target = target[parent]
        target[leaf] = value(target[leaf]) if callable(value) else value
    path.write_text(json.dumps(data))


def edit_report(model_dir: Path, name: str, **changes) -> None:
    edit(model_dir / "bench.json" if name == "bench" else model_dir / "reports" / f"{name}.json", **changes)


def checks(model_dir: Path) -> dict:
    return {c.name: c for c in run_gate(model_dir, model_dir.parent / "baseline.json")}


def verdicts(model_dir: Path) -> dict[str, str]:
    return {name: c.verdict for name, c in checks(model_dir).items()}


def gate_cli(model_dir: Path):
    return run_cli("gate", str(model_dir), "--baseline", str(model_dir.parent / "baseline.json"))


def test_a_baseline_passes_against_its_own_reports(model_dir: Path) -> None:
    baseline = read_baseline(model_dir.parent / "baseline.json")
    assert set(baseline["accuracy"]) == {"ir-fp32", "ir-int8"}
    assert set(baseline["ratios"]) == {"int8_over_fp32_throughput", "decode_over_latency", "e2e_over_throughput"}
    assert baseline["dataset"]["images"] == IMAGES and baseline["dataset"]["name"] == "coco"
    assert "not a population claim" in baseline["claim"]
    assert set(verdicts(model_dir).values()) == {"pass"}
    result = gate_cli(model_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checks hold" in result.stdout and "not a population claim" in result.stdout


def test_a_worse_report_turns_the_gate_red_and_says_why(model_dir: Path) -> None:
    edit_report(model_dir, "ir-int8-val", ap=lambda ap: ap - 0.05)
    edit_report(model_dir, "ir-int8-val", provenance__calibration__sha256="f" * 64)
    check = checks(model_dir)["ir-int8 val AP"]
    assert check.verdict == "FAIL" and any(cause.startswith("calibration") for cause in check.causes)
    result = gate_cli(model_dir)
    assert result.returncode == 1
    assert "FAIL" in result.stdout and "because: calibration" in result.stdout
    assert result.stderr.startswith("poseforge: error: accuracy gate failed") and "ir-int8 val AP" in result.stderr


def test_a_better_report_passes_and_says_so(model_dir: Path) -> None:
    edit_report(model_dir, "ir-fp32-val", ap=lambda ap: ap + 0.05)
    assert verdicts(model_dir)["ir-fp32 val AP"] == "better"


@pytest.mark.parametrize(
    ("change", "cause"),
    [
        ({"subset": True}, "a subset"),
        ({"images": IMAGES - 1}, "other images"),
        ({"dataset__image_ids_sha256": "0" * 64}, "other images"),
        ({"protocol": "deploy"}, "holds the deploy report"),
        ({"artifact": "ir-fp16"}, "holds the val report of ir-fp16"),
        ({"dataset__annotations_sha256": "0" * 64}, "other annotations"),
        ({"model": "lightweight-openpose"}, "report of model lightweight-openpose"),
        ({"artifact_sha256": "0" * 64}, "stale: measured on another version"),
    ],
)
def test_a_report_that_does_not_match_fails_with_its_cause(model_dir: Path, change: dict, cause: str) -> None:
    edit_report(model_dir, "ir-fp32-val", **change)
    check = checks(model_dir)["ir-fp32 val AP"]
    assert check.verdict == "FAIL" and check.measured == "not comparable" and cause in check.causes[0]


def test_an_artifact_changed_after_validation_fails(model_dir: Path) -> None:
    """Swapping model.bin for other bytes of the same size makes every report of it stale."""
    ir = model_dir / "ir" / "fp32"
    real = ir.resolve()
    ir.unlink()
    shutil.copytree(real, ir)
    weights = bytearray((ir / "model.bin").read_bytes())
    weights[1000:1004] = bytes(4)
    (ir / "model.bin").write_bytes(bytes(weights))
    result = checks(model_dir)
    for protocol in ("val", "deploy"):
        check = result[f"ir-fp32 {protocol} AP"]
        assert check.verdict == "FAIL" and "stale" in check.causes[0]
    assert result["ir-int8 val AP"].verdict == "pass"
    ratios = [c for name, c in result.items() if "is better" in name]
    assert ratios and all(c.verdict == "FAIL" and "another version of" in c.causes[0] for c in ratios)
    with pytest.raises(PoseforgeError, match="measured another version of"):
        write_baseline(model_dir, model_dir / "new-baseline.json")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"accuracy__ir-fp32__val__ap": float("nan")}, "not a valid baseline"),
        ({"accuracy__ir-fp32__val__tolerance": float("nan")}, "not a valid baseline"),
        ({"ratios__e2e_over_throughput__expected": float("nan")}, "not a valid baseline"),
        ({"accuracy__ir-fp32__val__ap": True}, "expected a number"),
        ({"accuracy__ir-fp32__val__tolerance": -0.1}, "tolerance"),
        ({"accuracy": {}}, "0 entries"),
        ({"ratios": {}}, "0 entries"),
        ({"accuracy__ir-fp32": {}}, "0 entries"),
        ({"schema": "poseforge.baseline/1"}, "not a poseforge baseline"),
        ({"ratios__e2e_over_throughput__better": "sideways"}, "better"),
    ],
)
def test_a_poisoned_baseline_cannot_pass(model_dir: Path, change: dict, message: str) -> None:
    baseline = model_dir.parent / "baseline.json"
    data = json.loads(baseline.read_text())
    for key, value in change.items():
        target = data
        *parents, leaf = key.split("__")
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    baseline.write_text(json.dumps(data))  # json writes NaN as NaN: not JSON, and refused
    with pytest.raises(PoseforgeError, match=message):
        run_gate(model_dir, baseline)
    result = gate_cli(model_dir)
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [({"ap": float("nan")}, "not a valid report"), ({"ap": True}, "expected a number"), ({"ap": 1.5}, "field ap")],
)
def test_a_poisoned_report_cannot_pass(model_dir: Path, change: dict, message: str) -> None:
    edit_report(model_dir, "ir-fp32-val", **change)
    with pytest.raises(PoseforgeError, match=message):
        run_gate(model_dir, model_dir.parent / "baseline.json")


def test_a_missing_report_fails(model_dir: Path) -> None:
    (model_dir / "reports" / "ir-fp32-deploy.json").unlink()
    assert verdicts(model_dir)["ir-fp32 deploy AP"] == "FAIL"


def test_a_missing_or_foreign_bench_fails_every_ratio(model_dir: Path) -> None:
    edit_report(model_dir, "bench", model="openpose-vgg19")
    ratio_checks = [c for name, c in checks(model_dir).items() if "better)" in name]
    assert len(ratio_checks) == 3 and all(c.verdict == "FAIL" and "openpose-vgg19" in c.causes[0] for c in ratio_checks)
    (model_dir / "bench.json").unlink()
    ratio_checks = [c for name, c in checks(model_dir).items() if "better)" in name]
    assert len(ratio_checks) == 3 and all(c.verdict == "FAIL" and c.measured == "no bench.json" for c in ratio_checks)


def test_missing_baseline_and_no_reports_are_errors(model_dir: Path, tmp_path: Path) -> None:
    result = run_cli("gate", str(model_dir), "--baseline", str(tmp_path / "absent.json"))
    assert result.returncode == 1 and "baseline not found" in result.stderr
    empty = tmp_path / "empty"
    (empty / "reports").mkdir(parents=True)
    result = run_cli("gate", str(empty), "--baseline", str(model_dir.parent / "baseline.json"))
    assert result.returncode == 1 and "the gate cannot pass" in result.stderr


def test_rewriting_the_baseline_shows_what_changed(model_dir: Path) -> None:
    baseline = model_dir.parent / "baseline.json"
    edit_report(model_dir, "ir-fp32-val", ap=0.5)
    result = run_cli("baseline", str(model_dir), "--baseline", str(baseline))
    assert result.returncode == 0
    assert "ir-fp32 val AP:" in result.stdout and "-> 0.5000" in result.stdout
    assert read_baseline(baseline)["accuracy"]["ir-fp32"]["val"]["ap"] == 0.5


def test_a_baseline_refuses_subsets_and_mixed_image_sets(model_dir: Path) -> None:
    baseline = model_dir.parent / "baseline.json"
    before = baseline.read_bytes()
    edit_report(model_dir, "ir-fp32-val", subset=True)
    result = run_cli("baseline", str(model_dir), "--baseline", str(baseline))
    assert result.returncode == 1 and "subset" in result.stderr and baseline.read_bytes() == before
    edit_report(model_dir, "ir-fp32-val", subset=False, dataset__image_ids_sha256="0" * 64)
    result = run_cli("baseline", str(model_dir), "--baseline", str(baseline))
    assert result.returncode == 1 and "mixed image sets" in result.stderr and baseline.read_bytes() == before
