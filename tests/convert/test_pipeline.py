"""The convert stage end to end, as `make ir` runs it: files, interfaces, metadata, parity."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest

from poseforge.convert.onnx_export import OPSET
from poseforge.convert.parity import (
    MIN_COSINES,
    TOLERANCES,
    find_artifacts,
    measure_parity,
    parity,
    parity_inputs,
    render_parity,
    violations,
)
from poseforge.ir_files import read_ir
from poseforge.metadata import get_ir_metadata, get_onnx_metadata
from poseforge.runtime import open_runner
from tests.conftest import IR_CHAIN, OMZ_XML, run_cli, run_make


def make_vars(build_dir: Path, assets: Path) -> dict[str, str]:
    variables = {"BUILD": str(build_dir.parent), "DATA": str(assets), "MODEL": build_dir.name}
    if build_dir.name == "lightweight-openpose":
        variables["CHECKPOINT"] = str(assets / "upstream" / "lwop_random_checkpoint.pth")
    return variables


@pytest.mark.parametrize("build", ["lwop_build", "omz_build"])
def test_make_ir_writes_every_artifact_and_rerunning_does_nothing(
    build: str, request: pytest.FixtureRequest, assets: Path
) -> None:
    out: Path = request.getfixturevalue(build)
    assert all((out / rel).is_file() for rel in IR_CHAIN)
    assert not list(out.rglob("*.tmp*")), "temporary files left behind"
    variables = make_vars(out, assets)
    assert run_make("-q", "ir", **variables).returncode == 0  # everything up to date
    rerun = run_make("ir", **variables)
    assert rerun.returncode == 0 and "poseforge" not in rerun.stdout
    # A newer checkpoint makes everything downstream out of date (restored afterwards).
    pth = out / "model.pth"
    stat = pth.stat()
    os.utime(pth, (stat.st_atime, time.time() + 60))
    try:
        dry = run_make("-n", "ir", **variables)
        assert all(f"{step} " in dry.stdout for step in ("export", "simplify", "convert"))
    finally:
        os.utime(pth, (stat.st_atime, stat.st_mtime))


@pytest.mark.data
@pytest.mark.parametrize("build", ["lwop_build", "omz_build"])
def test_onnx_artifacts_keep_the_promised_interface(build: str, request: pytest.FixtureRequest) -> None:
    out: Path = request.getfixturevalue(build)
    for name, artifact in (("model.onnx", "onnx"), ("model.sim.onnx", "onnx-sim")):
        model = onnx.load(str(out / name))
        onnx.checker.check_model(model, full_check=True)
        assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [OPSET]
        (data,) = model.graph.input
        dims = [d.dim_value or d.dim_param for d in data.type.tensor_type.shape.dim]
        assert data.name == "data" and dims == [1, 3, "height", "width"]
        assert [o.name for o in model.graph.output] == ["heatmaps", "pafs"]
        meta = get_onnx_metadata(model)
        assert meta["artifact"] == artifact and meta["model"] == out.name
        assert_network_metadata(meta)


@pytest.mark.data
@pytest.mark.parametrize("build", ["lwop_build", "omz_build"])
def test_ir_artifacts_keep_the_promised_interface(build: str, request: pytest.FixtureRequest) -> None:
    out: Path = request.getfixturevalue(build)
    sizes = {}
    for precision in ("fp32", "fp16"):
        xml = out / "ir" / precision / "model.xml"
        model = read_ir(xml)
        (data,) = model.inputs
        assert data.get_any_name() == "data" and str(data.get_partial_shape()) == "[1,3,?,?]"
        assert [o.get_any_name() for o in model.outputs] == ["heatmaps", "pafs"]
        meta = get_ir_metadata(model)
        assert meta["artifact"] == f"ir-{precision}" and meta["precision"] == precision
        assert_network_metadata(meta)
        sizes[precision] = xml.with_suffix(".bin").stat().st_size
    assert 0.45 < sizes["fp16"] / sizes["fp32"] < 0.55  # FP16 halves the weights


def assert_network_metadata(meta: dict) -> None:
    assert meta["input"]["deploy_shape"] == [256, 456] and meta["input"]["color_order"] == "BGR"
    assert len(meta["normalization"]["scale"]) == 3 and len(meta["normalization"]["shift"]) == 3
    assert meta["outputs"]["heatmaps"]["channels"] == 19 and meta["outputs"]["pafs"]["channels"] == 38
    assert len(meta["keypoints"]["keypoint_names"]) == 18 and len(meta["keypoints"]["limb_paf_channels"]) == 19
    assert len(meta["source"]["sha256"]) == 64
    assert {"torch", "onnx", "openvino", "numpy"} <= meta["versions"].keys()


def test_lwop_ir_fp32_reproduces_the_golden_outputs(lwop_build: Path, assets: Path) -> None:
    """Done-when check: the upstream golden input fed as raw pixels through the FP32 IR."""
    golden = np.load(assets / "upstream" / "lwop_random_golden.npz")
    heatmaps, pafs = open_runner(lwop_build / "ir" / "fp32" / "model.xml").run(golden["input"] * 256 + 128)
    assert np.abs(heatmaps - golden["stage1_heatmaps"]).max() <= 1e-4
    assert np.abs(pafs - golden["stage1_pafs"]).max() <= 1e-4


@pytest.mark.parametrize("build", ["lwop_build", "omz_build"])
def test_every_artifact_agrees_with_torch(
    build: str, request: pytest.FixtureRequest, assets: Path, coco_images: list[Path]
) -> None:
    out: Path = request.getfixturevalue(build)
    golden = np.load(assets / "upstream" / "lwop_random_golden.npz")["input"] * 256 + 128
    inputs = parity_inputs(coco_images[:4], golden)
    table = parity(find_artifacts(out), inputs)
    assert {row.artifact for row in table} == set(TOLERANCES)
    assert violations(table) == []
    worst = {row.artifact: row.agreement.worst() for row in table}
    assert worst["ir-fp16"] > worst["ir-fp32"]  # FP16 really is a different artifact


def test_parity_command_prints_the_table(omz_build: Path, assets: Path) -> None:
    result = run_cli("parity", str(omz_build), "--images", str(assets / "coco-mini" / "val2017"), "--limit", "2",
                     "--omz-ir", str(assets / OMZ_XML))  # fmt: skip
    assert result.returncode == 0, result.stderr
    for label in ("onnx-sim", "ir-fp16", "omz fp32 reference", "omz int8 release"):
        assert label in result.stdout
    # Intel's release computes with its activation FakeQuantize: shown, and said why it is not judged.
    assert "omz int8 release: Intel's INT8 network computes with its activation FakeQuantize" in result.stdout
    assert "not expected to match FP32: shown, not judged" in result.stdout


def test_the_int8_ir_is_judged_by_its_stated_cosine(omz_build: Path, assets: Path, tmp_path: Path, capsys) -> None:
    """An INT8 network (Intel's release, as build/<model>/ir/int8 here) computes in 8 bits: no conversion's
    max abs holds for it, the cosine stated in poseforge.artifacts does, on make parity's images."""
    model_dir = tmp_path / "human-pose-estimation-0001"
    (model_dir / "ir" / "int8").mkdir(parents=True)
    (model_dir / "model.pth").symlink_to(omz_build / "model.pth")
    for suffix in ("xml", "bin"):
        (model_dir / "ir" / "int8" / f"model.{suffix}").symlink_to(omz_build / "ir" / "omz-int8" / f"model.{suffix}")
    rows, images, _ = measure_parity(model_dir, assets / "coco-val" / "val2017", limit=8)  # as `make parity`
    [int8] = [row for row in rows if row.artifact == "ir-int8"]
    assert images == 8 and int8.min_cosine == MIN_COSINES["ir-int8"] and int8.tolerance is None and int8.holds
    assert int8.agreement.worst() > max(TOLERANCES.values())  # a conversion's max abs would refuse it
    assert violations(rows) == []
    strict = dataclasses.replace(int8, min_cosine=0.99999)
    assert violations([strict]) == [f"ir-int8 vs torch: cosine {int8.agreement.least_cosine():.4f} < 0.99999"]
    render_parity(rows, images, False)
    out = capsys.readouterr().out
    assert re.search(rf"ir-int8 +. torch .*cos >= {MIN_COSINES['ir-int8']} ok", out), out
    assert "ir-int8 computes in 8 bits" in out and "over every input as one vector" in out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_export_leaves_no_target(lwop_build: Path, tmp_path: Path, sig: signal.Signals) -> None:
    target = tmp_path / "model.onnx"
    # A background job inherits SIGINT ignored (as CI runners start us); a user's shell does not.
    proc = subprocess.Popen(
        [sys.executable, "-m", "poseforge.cli", "export", str(lwop_build / "model.pth"), "-o", str(target)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    # Interrupt once the stage is writing: its temporary file exists (the export itself then
    # takes seconds more), so the signal always lands mid-write.
    deadline = time.time() + 120
    while not list(tmp_path.glob(".model.*.tmp.onnx")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the export ended before it could be interrupted"
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # both signals are handled: the temporary is removed too


def test_the_int8_ir_is_made_again_for_another_calibration_folder_not_another_spelling(
    assets: Path, tmp_path: Path
) -> None:
    """CALIB=<the recorded folder>/ printed "INT8 settings changed" and would have quantized again (and with
    it every INT8 report, bench and report downstream)."""
    calib = assets / "coco-calib" / "train2017"
    settings = tmp_path / "build" / "m" / "ir" / "int8" / "settings.mk"
    settings.parent.mkdir(parents=True)
    settings.write_text(f"RECORDED_INT8 := calib={os.path.abspath(calib)} max_drop= opts=\nRECORDED_CALIB := {calib}\n")
    variables = {"BUILD": str(tmp_path / "build"), "MODEL": "m", "DATA": str(assets)}
    for spelling in (f"{calib}/", str(calib), f"{calib}/../train2017"):
        assert "INT8 settings changed" not in run_make("-n", "int8", CALIB=spelling, **variables).stdout, spelling
    other = run_make("-n", "int8", CALIB=str(assets / "coco-mini" / "val2017"), **variables)
    assert "INT8 settings changed" in other.stdout and " quantize " in other.stdout
