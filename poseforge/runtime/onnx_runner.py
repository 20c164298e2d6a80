"""onnxruntime runner (CPU execution provider)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from poseforge.onnx_files import read_onnx
from poseforge.runtime import Outputs, check_batch, sequential_throughput, threaded_stream


class OnnxRunner:
    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        model, meta = read_onnx(path)
        options = ort.SessionOptions()
        # Explicit, so that the thread count is known and recorded (onnxruntime's own default
        # is the number of physical cores).
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        self.session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        self.artifact = meta.get("artifact", "onnx")
        self.metadata = meta
        self.settings = {
            "runtime": "onnxruntime",
            "version": ort.__version__,
            "threads": options.intra_op_num_threads,
            "precision_hint": "f32",
        }

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        heatmaps, pafs = self.session.run(["heatmaps", "pafs"], {"data": check_batch(batch)})
        return heatmaps, pafs

    def fixed(self, shape: tuple[int, int, int, int], performance_hint: str | None = None) -> OnnxRunner:
        return self  # no shape-specialised compilation to gain

    def throughput(self, batch: np.ndarray, seconds: float) -> tuple[int, float]:
        return sequential_throughput(self.run, batch, seconds)

    def stream(self, items: Iterable[tuple[Any, np.ndarray]]) -> Iterator[tuple[Any, Outputs]]:
        return threaded_stream(self.run, items)
