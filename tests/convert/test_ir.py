"""ONNX -> IR: what OpenVINO refuses is said in its own words, in one line, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from poseforge.metadata import derive, network_metadata, set_onnx_metadata
from poseforge.models import get_spec
from tests.hostile.helpers import cli, refused, snapshot

MODEL = "human-pose-estimation-0001"


def outside_weights(folder: Path) -> Path:
    """A poseforge ONNX file (interface and metadata) whose heatmaps weight lives in external data
    `../outside.bin`: a file that exists, with the right bytes, beside the ONNX file's folder."""
    folder.mkdir(parents=True)
    heat, pafs = np.zeros((19, 3, 1, 1), np.float32), np.zeros((38, 3, 1, 1), np.float32)
    (folder.parent / "outside.bin").write_bytes(heat.tobytes())
    weight = numpy_helper.from_array(heat, "h")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "../outside.bin"), ("offset", "0"), ("length", str(heat.nbytes))):
        weight.external_data.add(key=key, value=value)
    nodes = [
        helper.make_node("Conv", ["data", w], [out], strides=[8, 8]) for w, out in (("h", "heatmaps"), ("p", "pafs"))
    ]
    graph = helper.make_graph(
        nodes, "outside", [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, "H", "W"])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in ("heatmaps", "pafs")],
        [weight, numpy_helper.from_array(pafs, "p")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    meta = network_metadata(MODEL, get_spec(MODEL).normalization, {"kind": "random-init", "trained": False})
    set_onnx_metadata(model, derive(meta, artifact="onnx", precision="fp32", onnx_opset=18))
    path = folder / "model.onnx"
    onnx.save(model, str(path))
    return path


def test_external_data_outside_the_folder_is_refused_saying_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """OpenVINO refuses it; the line showed only the first line of its message ("Check 'false' failed at
    src/frontends/common/src/frontend.cpp:47:"), not why."""
    source = outside_weights(tmp_path / "onnx")
    before = snapshot(tmp_path)
    line = refused(cli(capsys, "convert", source, "-o", tmp_path / "ir" / "model.xml"), source)
    assert "'../outside.bin'" in line and "outside the base directory" in line, line
    assert snapshot(tmp_path) == before
