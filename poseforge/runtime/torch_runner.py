"""PyTorch runner: a normalised poseforge checkpoint, eval mode, no autograd."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from poseforge.models.checkpoint import load_checkpoint
from poseforge.runtime.common import Outputs, check_batch, checked_outputs, sequential_throughput, threaded_stream
from poseforge.runtime.options import ACCURACY, RuntimeOptions


class TorchRunner:
    def __init__(self, path: str | Path, options: RuntimeOptions = ACCURACY) -> None:
        ckpt = load_checkpoint(path)
        if options.threads:
            torch.set_num_threads(options.threads)
        self.options = options
        self.source = str(path)  # what errors name
        self.net = ckpt.deployable()
        self.artifact = "torch"
        self.metadata = {**ckpt.metadata, "artifact": "torch", "precision": "fp32"}
        self.settings = {
            "runtime": "torch",
            "version": torch.__version__,
            "threads": torch.get_num_threads(),
            "precision_hint": "f32",
        }

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            heatmaps, pafs = self.net(torch.from_numpy(check_batch(batch)))
        return checked_outputs(heatmaps.numpy(), pafs.numpy(), self.source)

    def with_options(self, **changes: Any) -> TorchRunner:
        return self  # one request already uses every core, and there is no shape-specialised compilation

    def throughput(self, batch: np.ndarray, seconds: float) -> tuple[int, float]:
        return sequential_throughput(self.run, batch, seconds)

    def stream(self, items: Iterable[tuple[Any, np.ndarray]]) -> Iterator[tuple[Any, Outputs]]:
        return threaded_stream(self.run, items)
