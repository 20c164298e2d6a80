"""`make bundle` / `poseforge bundle`: a real file with real prerequisites, and clear refusals."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path

from poseforge.artifacts import artifact_digest
from poseforge.machine import runs_bf16_natively
from tests.bundle.made import HEIGHT, Made
from tests.conftest import run_cli, run_make


def manifest_of(bundle: Path) -> dict:
    with tarfile.open(bundle) as tar:
        return json.loads(tar.extractfile("bundle.json").read())


def test_the_tarball_holds_the_network_its_reports_and_its_manifest(made: Made) -> None:
    # Each protocol and height make validated; where bf16 is native, the IR under bf16 too: those reports travel.
    runs = {p: f"ir-fp32-{p}" for p in ("val", "deploy", "native", f"native@{HEIGHT}")}
    if runs_bf16_natively():
        runs.update({f"{p}.bf16": f"ir-fp32.bf16-{p}" for p in ("val", "deploy")})
    with tarfile.open(made.bundle) as tar:
        names = tar.getnames()
        carried = {run: tar.extractfile(f"report-{run}.json").read() for run in runs}
    assert names == ["bundle.json", "model.bin", "model.xml", *sorted(f"report-{run}.json" for run in runs)]
    for run, data in carried.items():  # byte for byte the reports make wrote: their sha256 is theirs
        assert data == (made.model_dir / "reports" / f"{runs[run]}.json").read_bytes()
    manifest = manifest_of(made.bundle)
    ir = made.model_dir / "ir" / "fp32" / "model.xml"
    assert manifest["source_ir"] == {"artifact": "ir-fp32", "file": "model.xml", "sha256": artifact_digest(ir)}
    for protocol in ("val", "deploy"):  # the numbers come from the reports make wrote for this IR
        report = json.loads((made.model_dir / "reports" / f"ir-fp32-{protocol}.json").read_text())
        assert manifest["measured"][protocol]["ap"] == report["ap"]
        assert manifest["measured"][protocol]["machine"] == report["machine"]
    at_height = json.loads(carried[f"native@{HEIGHT}"])
    assert at_height["input_height"] == HEIGHT and at_height["speed"] is None  # its speed is bench's
    claim = manifest["measured"]["native_heights"][str(HEIGHT)]  # what measured() cites at that height
    assert list(manifest["measured"]["native_heights"]) == [str(HEIGHT)]
    assert (claim["ap"], claim["interval"], claim["images"]) == (at_height["ap"], at_height["interval"], 79)
    speed = manifest["measured"]["speed"]
    assert speed["throughput_fps"] == report["throughput_fps"] and speed["precision_hint"] == "f32"
    assert speed["shape"] == [1, 3, 256, 456] and speed["machine"]["cores"] >= 1


def test_rerunning_does_nothing_and_a_newer_report_rebuilds_the_same_bytes(made: Made, assets: Path) -> None:
    before = made.bundle.stat().st_mtime_ns
    data = made.bundle.read_bytes()
    result = made.make("bundle", assets=assets)
    assert result.returncode == 0, result.stderr
    assert "poseforge bundle" not in result.stdout and made.bundle.stat().st_mtime_ns == before

    # A report no other depends on: the FP32 IR's own is the reference the bf16 run's agreement is
    # scored against, where the CPU runs bf16 and the bundle carries that run's reports too.
    reports = made.model_dir / "reports"
    bf16 = reports / "ir-fp32.bf16-deploy.json"
    report = bf16 if bf16.is_file() else reports / "ir-fp32-deploy.json"
    newer = made.bundle.stat().st_mtime + 5
    os.utime(report, (newer, newer))
    result = made.make("bundle", assets=assets)
    assert result.returncode == 0, result.stderr
    assert "poseforge bundle" in result.stdout and "poseforge validate" not in result.stdout
    assert made.bundle.read_bytes() == data  # reproducible: no time or owner inside


def test_unknown_precision_is_a_clear_error(made: Made, assets: Path) -> None:
    result = made.make("bundle", assets=assets, PRECISION="fp64")
    assert result.returncode != 0
    assert "poseforge: error: unknown PRECISION=fp64; choose one of fp32 fp16 int8" in result.stderr
    assert not (made.dist / "human-pose-estimation-0001-fp64.tar.gz").exists()


def test_the_cli_refuses_an_ir_that_is_not_a_bundle_precision(omz_build: Path, tmp_path: Path) -> None:
    out = tmp_path / "omz.tar.gz"
    result = run_cli("bundle", str(omz_build / "ir" / "omz-int8" / "model.xml"), "--reports", str(tmp_path),
                     "-o", str(out))  # fmt: skip
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "bundles are made of ir-fp32, ir-fp16 or ir-int8" in result.stderr and not out.exists()


def test_a_missing_or_stale_report_is_a_clear_error(made: Made, tmp_path: Path) -> None:
    ir = made.model_dir / "ir" / "fp32" / "model.xml"
    reports = tmp_path / "reports"
    reports.mkdir()
    shutil.copy(made.model_dir / "reports" / "ir-fp32-val.json", reports)
    out = tmp_path / "b.tar.gz"
    result = run_cli("bundle", str(ir), "--reports", str(reports), "-o", str(out))
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "missing deploy report of ir-fp32" in result.stderr and "ir-fp32-deploy.json" in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [reports]  # no temporary left either

    deploy = json.loads((made.model_dir / "reports" / "ir-fp32-deploy.json").read_text())
    deploy["artifact_sha256"] = "0" * 64  # measured on some other IR
    (reports / "ir-fp32-deploy.json").write_text(json.dumps(deploy))
    result = run_cli("bundle", str(ir), "--reports", str(reports), "-o", str(out))
    assert result.returncode == 1 and "measured on another version" in result.stderr and not out.exists()


def test_make_runs_the_recipe_for_a_missing_bundle_only(made: Made, assets: Path) -> None:
    dry = run_make("-n", "bundle", BUILD=str(made.build), DIST=str(made.dist), DATA=str(assets), PRECISION="fp16")
    assert dry.returncode == 0, dry.stderr
    # fp16 has neither an IR nor reports in this build: make would convert, measure, validate, then bundle.
    commands = [line.split()[1] for line in dry.stdout.splitlines() if line.startswith(".venv/bin/poseforge")]
    assert commands == ["convert", "speed", "validate", "validate", "bundle"], dry.stdout


def test_bundle_and_verify_lead_with_what_predict_runs(made: Made) -> None:
    """The line `poseforge verify` (and `bundle`) prints: the AP of the native protocol at the deploy height,
    what predict runs by default, before the others."""
    result = run_cli("verify", str(made.bundle))
    assert result.returncode == 0, result.stderr
    line = result.stdout.splitlines()[0]
    native = json.loads((made.model_dir / "reports" / "ir-fp32-native.json").read_text())
    assert line.startswith(f"verified {made.bundle}: human-pose-estimation-0001 fp32, input u8 BGR NHWC [1,H,W,3] "
                           f"(deploy 256x456): native AP {native['ap']:.3f} [")  # fmt: skip
    assert "at input height 256 (what runs); also measured: val AP" in line and f"at height {HEIGHT}" in line
