"""INT8 with NNCF on the real network: the accuracy target, the known collapse and bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from poseforge.errors import PoseforgeError
from poseforge.ir_files import read_ir
from poseforge.metadata import get_ir_metadata
from poseforge.quantize import ptq
from poseforge.quantize.ptq import QuantizeSettings, quantize_ir
from poseforge.runtime import open_runner
from poseforge.validate.accuracy.dataset import CocoKeypoints
from poseforge.validate.accuracy.validate import coco_ap


@pytest.fixture(scope="module")
def coco(assets: Path) -> Path:
    return assets / "coco-mini"


@pytest.fixture(scope="module")
def fp32_ap(omz_build: Path, coco: Path) -> float:
    dataset = CocoKeypoints(coco)
    return coco_ap(open_runner(omz_build / "ir" / "fp32" / "model.xml"), dataset, dataset.images())["ap"]


def int8_ap(path: Path, coco: Path) -> float:
    dataset = CocoKeypoints(coco)
    return coco_ap(open_runner(path), dataset, dataset.images())["ap"]


@pytest.fixture(scope="module")
def default_int8(omz_build: Path, coco: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("int8") / "model.xml"
    record = quantize_ir(omz_build / "ir" / "fp32" / "model.xml", out, coco / "val2017", coco_dir=coco)
    return out, record


def test_default_settings_keep_ap_within_one_point(default_int8: tuple[Path, dict], coco: Path, fp32_ap: float) -> None:
    path, record = default_int8
    assert int8_ap(path, coco) >= fp32_ap - 0.010
    assert record["heatmap_peak_retention"] > 0.95
    heads = {"refinement_stages.0.heatmaps.1.0/Conv", "refinement_stages.0.pafs.1.0/Conv"}
    assert heads <= set(record["float_layers"])  # the default keeps the output heads in float


def test_int8_metadata_records_settings_calibration_and_overlap(default_int8: tuple[Path, dict], coco: Path) -> None:
    path, _ = default_int8
    meta = get_ir_metadata(read_ir(path))
    assert meta["artifact"] == "ir-int8" and meta["precision"] == "int8"
    q = meta["quantization"]
    assert q["settings"]["range_estimator"] == "minmax" and q["settings"]["preset"] == "performance"
    assert q["settings"]["fast_bias_correction"] is False and q["settings"]["ignore_heads"] is True
    assert q["calibration"]["images"] == 79 and len(q["calibration"]["sha256"]) == 64
    assert q["tool"].startswith("nncf ")
    assert any("overlap" in note for note in meta["notes"])
    ops = [op.get_type_name() for op in read_ir(path).get_ordered_ops()]
    assert ops.count("FakeQuantize") > 40  # really quantized


def test_nncf_defaults_collapse_and_the_checks_catch_it(
    omz_build: Path, coco: Path, fp32_ap: float, tmp_path: Path
) -> None:
    """The known trap: NNCF's defaults (mean of per-image ranges, fast bias correction, every layer
    quantized) clip the heatmap peaks. Cosine would not show it; peak retention and AP do."""
    out = tmp_path / "model.xml"
    settings = QuantizeSettings(range_estimator="nncf-default", fast_bias_correction=True, ignore_heads=False)
    record = quantize_ir(omz_build / "ir" / "fp32" / "model.xml", out, coco / "val2017", settings, coco_dir=coco)
    assert record["heatmap_peak_retention"] < 0.9
    assert int8_ap(out, coco) < fp32_ap - 0.03


def test_heads_can_be_quantized_too(omz_build: Path, coco: Path, tmp_path: Path) -> None:
    settings = QuantizeSettings(ignore_heads=False, fast_bias_correction=True, subset_size=8)
    out = tmp_path / "model.xml"
    record = quantize_ir(omz_build / "ir" / "fp32" / "model.xml", out, coco / "val2017", settings)
    heads = {"refinement_stages.0.heatmaps.1.0/Conv", "refinement_stages.0.pafs.1.0/Conv"}
    assert not heads & set(record["float_layers"])
    assert record["calibration"]["images"] == 8


def test_bad_calibration_folders(omz_build: Path, tmp_path: Path) -> None:
    source = omz_build / "ir" / "fp32" / "model.xml"
    out = tmp_path / "out" / "model.xml"
    with pytest.raises(PoseforgeError, match="calibration folder not found"):
        quantize_ir(source, out, tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PoseforgeError, match="holds no images"):
        quantize_ir(source, out, tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(PoseforgeError, match=r"do not decode, e.g. a\.jpg"):
        quantize_ir(source, out, tmp_path / "bad")
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_only_fp32_irs_are_quantized(omz_build: Path, coco: Path, tmp_path: Path) -> None:
    for rel, precision in (("ir/fp16/model.xml", "fp16"), ("ir/omz-int8/model.xml", "int8")):
        with pytest.raises(PoseforgeError, match=f"is a {precision} IR .*quantize needs the FP32 IR"):
            quantize_ir(omz_build / rel, tmp_path / "model.xml", coco / "val2017")
    with pytest.raises(PoseforgeError, match="is not KIND:VALUE"):
        quantize_ir(omz_build / "ir/fp32/model.xml", tmp_path / "m.xml", coco / "val2017",
                    QuantizeSettings(ignored_scope=("layer.conv",)))  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_an_unmet_accuracy_target_is_reported_and_nothing_written(
    omz_build: Path, coco: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NNCF's search is replaced by a model that lost accuracy (NNCF's defaults): what NNCF hands
    back is measured again, and refused when outside the drop."""
    import nncf

    def lossy(model, calibration, *args, **kwargs):
        return nncf.quantize(model, calibration, subset_size=8)

    monkeypatch.setattr(nncf, "quantize_with_accuracy_control", lossy)
    out = tmp_path / "model.xml"
    settings = QuantizeSettings(max_drop=0.001, subset_size=8)
    with pytest.raises(PoseforgeError, match=r"accuracy target not met: .* > max drop 0\.001\); nothing written"):
        quantize_ir(omz_build / "ir/fp32/model.xml", out, coco / "val2017", settings, coco, validation_limit=20)
    assert list(tmp_path.iterdir()) == []


def test_overlap_detection(coco: Path, tmp_path: Path) -> None:
    assert ptq.overlaps(coco / "val2017", coco)
    (tmp_path / "mine").mkdir()
    shutil.copy(next((coco / "val2017").iterdir()), tmp_path / "mine")
    assert ptq.overlaps(tmp_path / "mine", coco)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.jpg").write_bytes(b"")
    assert not ptq.overlaps(tmp_path / "other", coco)
