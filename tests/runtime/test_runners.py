"""The runners on real artifacts: one read, recompiled for another shape or hint, settings recorded,
and maps that are not finite refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from poseforge.errors import PoseforgeError
from poseforge.ir_files import ir_metadata, read_ir
from poseforge.runtime import open_runner
from poseforge.runtime.openvino_runner import OpenVINORunner
from poseforge.runtime.options import ACCURACY

SHAPE = (1, 3, 256, 456)


def test_with_options_recompiles_the_model_it_read(omz_build: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = open_runner(omz_build / "ir" / "fp32" / "model.xml")
    assert runner.options == ACCURACY and runner.settings["precision_hint"] == "f32"
    reads = []
    monkeypatch.setattr("poseforge.runtime.openvino_runner.read_ir", lambda *a: reads.append(a))
    fixed = runner.with_options(shape=SHAPE, performance_hint="THROUGHPUT")
    assert reads == []  # compiled again from the model in memory, not read again
    assert fixed.settings["performance_hint"] == "THROUGHPUT" and fixed.options.shape == SHAPE
    batch = np.full(SHAPE, 128.0, dtype=np.float32)
    for a, b in zip(runner.run(batch), fixed.run(batch), strict=True):
        assert a.shape == b.shape and np.abs(a - b).max() < 1e-4


def test_every_runtime_takes_the_same_options(omz_build: Path) -> None:
    batch = np.full(SHAPE, 128.0, dtype=np.float32)
    outputs = {}
    for name in ("model.pth", "model.onnx", "ir/fp32/model.xml"):
        runner = open_runner(omz_build / name, ACCURACY.replace(threads=1))
        assert runner.settings["threads"] == 1
        outputs[name] = runner.run(batch)
    for heatmaps, pafs in outputs.values():
        assert heatmaps.shape == (1, 19, 32, 57) and pafs.shape == (1, 38, 32, 57)
        assert np.abs(heatmaps - outputs["model.pth"][0]).max() < 1e-4


@pytest.mark.parametrize("name", ["model.pth", "model.onnx"])
def test_non_finite_maps_are_one_line(omz_build: Path, name: str) -> None:
    """NaN in, NaN out: the runtime refuses the maps, naming the artifact."""
    batch = np.full(SHAPE, 128.0, dtype=np.float32)
    batch[0, :, 100:110, 200:210] = np.nan
    with pytest.raises(PoseforgeError, match="non-finite maps"):
        open_runner(omz_build / name).run(batch)


def test_an_ir_with_broken_weights_gives_one_line(omz_build: Path) -> None:
    """OpenVINO's kernels squash a NaN input; NaN output biases (a corrupt .bin) still come through."""
    import openvino as ov

    path = omz_build / "ir" / "fp32" / "model.xml"
    model = read_ir(path)
    for result in model.get_results():
        bias = result.input(0).get_source_output().get_node()  # each head ends with its bias Add
        assert bias.get_type_name() == "Add"
        shape = bias.input(1).get_source_output().get_shape()
        bias.input(1).replace_source_output(ov.opset13.constant(np.full(shape, np.nan, np.float32)).output(0))
    runner = OpenVINORunner.from_model(model, ir_metadata(model, path), ACCURACY, str(path))
    with pytest.raises(PoseforgeError, match="non-finite maps"):
        runner.run(np.full(SHAPE, 128.0, dtype=np.float32))
