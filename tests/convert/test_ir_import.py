"""IR import: the FakeQuantize formula, and clear refusals of IRs that are not the expected one."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from poseforge.convert.ir_import import fake_quantize, import_ir
from poseforge.errors import PoseforgeError
from poseforge.ir_files import check_ir_files, read_ir
from tests.conftest import OMZ_XML


def test_fake_quantize_formula_matches_openvino() -> None:
    """Our float64 FakeQuantize agrees with OpenVINO's own op (evaluated in f32) on random data."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-3, 3, size=(4, 3, 5, 5)).astype(np.float32)
    in_lo, in_hi = np.float32(-2.0), np.float32(2.5)
    out_lo = rng.uniform(-1, 0, size=(4, 1, 1, 1)).astype(np.float32)
    out_hi = rng.uniform(0, 1, size=(4, 1, 1, 1)).astype(np.float32)
    param = ops.parameter(x.shape, np.float32)
    fq = ops.fake_quantize(param, in_lo, in_hi, out_lo, out_hi, 255)
    compiled = ov.Core().compile_model(ov.Model([fq], [param]), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    expected = compiled(x)[0]
    ours = fake_quantize(x.astype(np.float64), in_lo, in_hi, out_lo, out_hi, 255)
    assert np.abs(ours - expected).max() < 1e-6


def copy_ir(assets: Path, dest: Path) -> Path:
    xml = dest / "model.xml"
    shutil.copy(assets / OMZ_XML, xml)
    shutil.copy((assets / OMZ_XML).with_suffix(".bin"), xml.with_suffix(".bin"))
    return xml


def test_truncated_bin_is_refused(assets: Path, tmp_path: Path) -> None:
    xml = copy_ir(assets, tmp_path)
    data = xml.with_suffix(".bin").read_bytes()
    xml.with_suffix(".bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(PoseforgeError, match="truncated"):
        import_ir(xml)


def test_bin_that_does_not_match_its_xml_is_refused(assets: Path, tmp_path: Path) -> None:
    xml = copy_ir(assets, tmp_path)
    with open(xml.with_suffix(".bin"), "ab") as f:
        f.write(b"\0" * 1024)
    with pytest.raises(PoseforgeError, match="does not match"):
        import_ir(xml)


def test_missing_bin_and_missing_xml_are_refused(assets: Path, tmp_path: Path) -> None:
    xml = copy_ir(assets, tmp_path)
    xml.with_suffix(".bin").unlink()
    with pytest.raises(PoseforgeError, match="no weights file"):
        check_ir_files(xml)
    with pytest.raises(PoseforgeError, match="not found"):
        check_ir_files(tmp_path / "absent.xml")


def test_an_ir_of_another_network_is_refused(lwop_build: Path) -> None:
    """Our own export of the upstream architecture is a valid IR, but not the OMZ topology."""
    with pytest.raises(PoseforgeError, match="is not human-pose-estimation-0001"):
        import_ir(lwop_build / "ir" / "fp32" / "model.xml")


def test_a_rewired_ir_is_refused(assets: Path, tmp_path: Path) -> None:
    """Same layers, different wiring (the pafs fed to the refinement stage in reverse channel order):
    every layer check passes, the probe comparison with the IR catches it."""
    model = read_ir(assets / OMZ_XML)
    concat = next(op for op in model.get_ordered_ops() if op.get_type_name() == "Concat")
    sources = [concat.input(i).get_source_output() for i in range(3)]
    reversed_pafs = ops.gather(sources[0], ops.constant(np.arange(37, -1, -1, dtype=np.int64)), ops.constant(1))
    concat.input(0).replace_source_output(reversed_pafs.output(0))
    model.validate_nodes_and_infer_types()
    xml = tmp_path / "rewired.xml"
    ov.save_model(model, xml, compress_to_fp16=False)
    with pytest.raises(PoseforgeError, match="does not reproduce the IR"):
        import_ir(xml)
