"""One runner interface for every runtime: `run(batch) -> (heatmaps, pafs)` plus metadata.

    runner = open_runner("build/<model>/ir/int8/model.xml", RuntimeOptions(performance_hint="THROUGHPUT"))

Validation, speed measurement, parity, quantization's AP function and prediction all run
networks through these runners, so there is one code path to trust. A runner takes raw BGR
pixels, float32 [N, 3, H, W], and returns the last stage's heatmaps [N, 19, H/8, W/8] and
pafs [N, 38, H/8, W/8] as float32 numpy arrays. Heavy libraries are imported only by the
runner that needs them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from poseforge.documents import regular_file
from poseforge.errors import PoseforgeError
from poseforge.runtime.common import Outputs
from poseforge.runtime.options import ACCURACY, RuntimeOptions


class Runner(Protocol):
    artifact: str  # torch, onnx, onnx-sim, ir-fp32, ir-fp16, ir-int8, omz-int8, ...
    metadata: dict[str, Any]  # the artifact's own metadata
    options: RuntimeOptions  # what it was asked to run with
    settings: dict[str, Any]  # what it runs with (runtime, version, threads, precision hint): recorded

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def with_options(self, **changes: Any) -> Runner:
        """The same network with some options changed, e.g. a static shape compiled for speed
        (where the runtime cares; others return themselves)."""
        ...

    def throughput(self, batch: np.ndarray, seconds: float) -> tuple[int, float]:
        """Frames completed and seconds taken, keeping the runtime as busy as it can be."""
        ...

    def stream(self, items: Iterable[tuple[Any, np.ndarray]]) -> Iterator[tuple[Any, Outputs]]:
        """Run `(key, batch)` items with inference of later items overlapping the caller's work
        on earlier results (decoding); yields `(key, (heatmaps, pafs))`, not necessarily in order."""
        ...


SUFFIXES = ((".pth", "torch"), (".onnx", "onnx"), (".xml", "openvino"), (".tar.gz", "bundle"))


def artifact_kind(path: str | Path) -> str:
    """Which runtime opens `path`: torch (.pth), onnx (.onnx), openvino (.xml), bundle (.tar.gz)."""
    name = Path(path).name
    for suffix, kind in SUFFIXES:
        if name.endswith(suffix):
            return kind
    raise PoseforgeError(
        f"{path} is not an artifact poseforge runs (a .pth checkpoint, an .onnx file, an OpenVINO .xml "
        "or a .tar.gz bundle)"
    )


def artifact_metadata(path: str | Path) -> dict[str, Any]:
    """An artifact's poseforge metadata, read without compiling anything."""
    kind = artifact_kind(path)
    if kind == "torch":
        from poseforge.models.checkpoint import load_checkpoint

        return {**load_checkpoint(path).metadata, "artifact": "torch", "precision": "fp32"}
    if kind == "onnx":
        from poseforge.onnx_files import read_onnx

        return read_onnx(path, load_external_data=False)[1]
    if kind == "bundle":
        from poseforge.runtime.bundle_runner import bundle_metadata

        return bundle_metadata(path)
    from poseforge.ir_files import ir_metadata, read_ir

    return ir_metadata(read_ir(path), path)


def open_runner(path: str | Path, options: RuntimeOptions = ACCURACY) -> Runner:
    """Open any artifact with the runtime its kind needs, as `options` say (precision hint and
    streams concern OpenVINO only; a shape is compiled for where the runtime compiles)."""
    kind = artifact_kind(path)
    regular_file(path, "artifact")
    if kind in ("torch", "onnx") and options.device != "CPU":
        raise PoseforgeError(f"{path}: device {options.device} runs OpenVINO artifacts (an IR, a bundle); "
                             f"{kind} runs on the CPU")  # fmt: skip
    if kind == "torch":
        from poseforge.runtime.torch_runner import TorchRunner

        return TorchRunner(path, options)
    if kind == "onnx":
        from poseforge.runtime.onnx_runner import OnnxRunner

        return OnnxRunner(path, options)
    if kind == "bundle":
        from poseforge.runtime.bundle_runner import BundleRunner

        return BundleRunner.open(path, options)
    from poseforge.runtime.openvino_runner import OpenVINORunner

    return OpenVINORunner.open(path, options)
