"""onnxruntime runner (CPU execution provider)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from poseforge.onnx_files import read_onnx
from poseforge.runtime.common import (
    Outputs,
    check_batch,
    checked_outputs,
    runtime_error,
    sequential_throughput,
    threaded_stream,
)
from poseforge.runtime.options import ACCURACY, RuntimeOptions


class OnnxRunner:
    def __init__(self, path: str | Path, options: RuntimeOptions = ACCURACY) -> None:
        import onnxruntime as ort

        model, meta = read_onnx(path)
        session_options = ort.SessionOptions()
        # Explicit, so that the thread count is known and recorded (onnxruntime's own default
        # is the number of physical cores).
        session_options.intra_op_num_threads = options.threads or os.cpu_count() or 1
        self.options = options
        self.source = str(path)  # what errors name
        try:
            self.session = ort.InferenceSession(
                model.SerializeToString(), session_options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime's own exception types
            raise runtime_error(exc, f"onnxruntime cannot load {path}") from None
        self.artifact = meta.get("artifact", "onnx")
        self.metadata = meta
        self.settings = {
            "runtime": "onnxruntime",
            "version": ort.__version__,
            "threads": session_options.intra_op_num_threads,
            "precision_hint": "f32",
        }

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        data = check_batch(batch)
        try:
            heatmaps, pafs = self.session.run(["heatmaps", "pafs"], {"data": data})
        except Exception as exc:
            raise runtime_error(exc, f"onnxruntime cannot run {self.artifact} on input {data.shape}") from None
        return checked_outputs(heatmaps, pafs, self.source)

    def with_options(self, **changes: Any) -> OnnxRunner:
        return self  # one request already uses every core, and there is no shape-specialised compilation

    def throughput(self, batch: np.ndarray, seconds: float) -> tuple[int, float]:
        return sequential_throughput(self.run, batch, seconds)

    def stream(self, items: Iterable[tuple[Any, np.ndarray]]) -> Iterator[tuple[Any, Outputs]]:
        return threaded_stream(self.run, items)
