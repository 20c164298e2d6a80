"""The gate: passes on its own baseline, turns red on a worse report, and fails closed."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from poseforge.quantize.ptq import QuantizeSettings, quantize_ir
from poseforge.validate.bench import run_bench
from poseforge.validate.gate import read_baseline, run_gate, write_baseline
from poseforge.validate.validate import validate_artifact
from tests.conftest import run_cli

LIMIT = 12  # images: enough for real AP figures, quick to run


@pytest.fixture(scope="module")
def reports_dir(omz_build: Path, assets: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory whose reports/ come from real runs of an FP32 and an INT8 IR."""
    model_dir = tmp_path_factory.mktemp("gate") / "human-pose-estimation-0001"
    shutil.copytree(omz_build / "ir" / "fp32", model_dir / "ir" / "fp32")
    int8 = model_dir / "ir" / "int8" / "model.xml"
    quantize_ir(model_dir / "ir/fp32/model.xml", int8, assets / "coco-mini/val2017", QuantizeSettings(subset_size=8))
    for name, path in (("ir-fp32", model_dir / "ir/fp32/model.xml"), ("ir-int8", int8)):
        for protocol in ("val", "deploy"):
            validate_artifact(path, assets / "coco-mini", protocol, model_dir / "reports" / f"{name}-{protocol}.json",
                              limit=LIMIT, measure=False)  # fmt: skip
    run_bench(model_dir, assets / "coco-mini", limit=LIMIT, seconds=1.0, rounds=1, output=model_dir / "bench.json")
    return model_dir


@pytest.fixture
def model_dir(reports_dir: Path, tmp_path: Path) -> Path:
    """A fresh copy per test, with a baseline written from its own reports."""
    copy = tmp_path / "human-pose-estimation-0001"
    shutil.copytree(reports_dir / "reports", copy / "reports")
    shutil.copy(reports_dir / "bench.json", copy / "bench.json")
    write_baseline(copy, tmp_path / "baseline.json")
    return copy


def edit_report(model_dir: Path, name: str, **changes) -> None:
    """Change fields of reports/<name>.json (or of bench.json for name "bench"); a__b is a["b"]."""
    path = model_dir / "bench.json" if name == "bench" else model_dir / "reports" / f"{name}.json"
    report = json.loads(path.read_text())
    for key, value in changes.items():
        target = report
        *parents, leaf = key.split("__")
        for parent in parents:
            target = target[parent]
        target[leaf] = value(target[leaf]) if callable(value) else value
    path.write_text(json.dumps(report))


def verdicts(model_dir: Path) -> dict[str, str]:
    return {c.name: c.verdict for c in run_gate(model_dir, model_dir.parent / "baseline.json")}


def test_a_baseline_passes_against_its_own_reports(model_dir: Path) -> None:
    baseline = read_baseline(model_dir.parent / "baseline.json")
    assert set(baseline["accuracy"]) == {"ir-fp32", "ir-int8"}
    assert set(baseline["ratios"]) == {"int8_over_fp32_throughput", "decode_over_latency", "e2e_over_throughput"}
    assert baseline["dataset"]["images"] == LIMIT
    assert set(verdicts(model_dir).values()) == {"pass"}
    result = run_cli("gate", str(model_dir), "--baseline", str(model_dir.parent / "baseline.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checks hold" in result.stdout


def test_a_worse_report_turns_the_gate_red(model_dir: Path) -> None:
    edit_report(model_dir, "ir-int8-val", ap=lambda ap: ap - 0.05)
    assert verdicts(model_dir)["ir-int8 val AP"] == "FAIL"
    result = run_cli("gate", str(model_dir), "--baseline", str(model_dir.parent / "baseline.json"))
    assert result.returncode == 1
    assert "FAIL" in result.stdout and result.stderr.startswith("poseforge: error: accuracy gate failed")


def test_a_slower_int8_fails_the_speed_ratio(model_dir: Path) -> None:
    edit_report(model_dir, "bench", ratios__int8_over_fp32_throughput=lambda ratio: ratio * 0.5)
    assert verdicts(model_dir)["int8_over_fp32_throughput (higher is better)"] == "FAIL"


def test_a_better_report_passes_and_says_so(model_dir: Path) -> None:
    edit_report(model_dir, "ir-fp32-val", ap=lambda ap: ap + 0.05)
    assert verdicts(model_dir)["ir-fp32 val AP"] == "better"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"ap": math.nan}, "AP nan"),
        ({"images": LIMIT - 1}, f"{LIMIT - 1} images, baseline {LIMIT}"),
        ({"protocol": "deploy"}, "protocol deploy"),
        ({"artifact": "ir-fp16"}, "artifact ir-fp16"),
        ({"dataset__annotations_sha256": "0" * 64}, "other annotations"),
    ],
)
def test_the_gate_fails_closed(model_dir: Path, change: dict, expected: str) -> None:
    edit_report(model_dir, "ir-fp32-val", **change)
    checks = {c.name: c for c in run_gate(model_dir, model_dir.parent / "baseline.json")}
    check = checks["ir-fp32 val AP"]
    assert check.verdict == "FAIL" and check.measured == expected


def test_a_missing_report_fails(model_dir: Path) -> None:
    (model_dir / "reports" / "ir-fp32-deploy.json").unlink()
    assert verdicts(model_dir)["ir-fp32 deploy AP"] == "FAIL"


def test_a_missing_bench_fails_every_ratio(model_dir: Path) -> None:
    (model_dir / "bench.json").unlink()
    checks = [c for c in run_gate(model_dir, model_dir.parent / "baseline.json") if "better)" in c.name]
    assert len(checks) == 3 and all(c.verdict == "FAIL" and c.measured == "no bench.json" for c in checks)


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
