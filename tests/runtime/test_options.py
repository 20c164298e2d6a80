"""RuntimeOptions: one value for how a network runs, checked when made, spelled out for OpenVINO."""

from __future__ import annotations

import pytest

from poseforge.errors import PoseforgeError
from poseforge.runtime import artifact_kind
from poseforge.runtime.options import ACCURACY, RuntimeOptions


def test_the_defaults_are_what_accuracy_checks_need() -> None:
    assert ACCURACY.precision_hint == "f32" and ACCURACY.shape is None and ACCURACY.performance_hint == "LATENCY"
    assert ACCURACY.openvino_config() == {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}


def test_replace_and_the_openvino_config() -> None:
    options = ACCURACY.replace(threads=2, performance_hint="THROUGHPUT", streams=2, shape=(1, 3, 256, 344))
    assert options.openvino_config() == {
        "PERFORMANCE_HINT": "THROUGHPUT",
        "INFERENCE_PRECISION_HINT": "f32",
        "INFERENCE_NUM_THREADS": "2",
        "NUM_STREAMS": "2",
    }
    assert ACCURACY.threads is None  # frozen: replace makes a new value
    assert "INFERENCE_PRECISION_HINT" not in RuntimeOptions(precision_hint=None).openvino_config()
    # AUTO forwards the hints; the CPU's own thread count goes to the CPU, for when AUTO picks it.
    assert RuntimeOptions(device="AUTO", threads=1).openvino_config() == {
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "f32",
        "DEVICE_PROPERTIES": {"CPU": {"INFERENCE_NUM_THREADS": "1"}},
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"device": "TPU"}, "choose from CPU, AUTO, GPU, NPU"),
        ({"device": "GPU", "threads": 2}, "not for device GPU"),
        ({"precision_hint": "int4"}, "precision hint"),
        ({"performance_hint": "FAST"}, "performance hint"),
        ({"threads": 0}, "threads"),
        ({"threads": True}, "threads"),
        ({"streams": -1}, "streams"),
        ({"shape": (1, 3, 250, 456)}, "multiples of 8"),
        ({"shape": (1, 1, 256, 456)}, r"\[N, 3, H, W\]"),
    ],
)
def test_bad_options_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(PoseforgeError, match=message):
        ACCURACY.replace(**changes)


def test_artifact_kinds() -> None:
    assert [artifact_kind(n) for n in ("a.pth", "a.onnx", "a.xml", "a.tar.gz")] == [
        "torch",
        "onnx",
        "openvino",
        "bundle",
    ]
    with pytest.raises(PoseforgeError, match="not an artifact"):
        artifact_kind("a.tgz")
