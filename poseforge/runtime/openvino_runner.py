"""OpenVINO runner (CPU plugin), with every compile setting spelled out and recorded.

Any IR poseforge made or imported carries its metadata in rt_info, including the names of its
heatmaps and pafs outputs: that is how the Open Model Zoo IR, whose outputs are named
differently, runs through this same code. The input is made dynamic ([?, 3, ?, ?]) for
accuracy runs over images of many sizes, and static for speed runs (`fixed`).
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from poseforge.errors import PoseforgeError
from poseforge.ir_files import compile_settings, read_ir
from poseforge.metadata import get_ir_metadata
from poseforge.runtime import Outputs, check_batch, checked_outputs, runtime_error


def ir_metadata(model: Any, path: str | Path) -> dict[str, Any]:
    meta = get_ir_metadata(model, path)
    if meta is None:
        raise PoseforgeError(
            f"{path} carries no poseforge metadata (rt_info): convert it with `poseforge convert`, "
            "or register an Open Model Zoo IR with `poseforge reference-ir`"
        )
    return meta


class OpenVINORunner:
    def __init__(
        self,
        path: str | Path,
        precision_hint: str | None = "f32",
        threads: int | None = None,
        performance_hint: str = "LATENCY",
        shape: tuple[int, int, int, int] | None = None,
        core: Any = None,
    ) -> None:
        self.path: Path | None = Path(path)
        self.core = core or ov.Core()
        model, metadata = self._read(self.path)
        self._options = (precision_hint, threads, performance_hint)
        try:
            model.reshape({metadata["input"]["name"]: self._input_shape(shape)})
            compiled = self.core.compile_model(
                model, "CPU", compile_settings(precision_hint, performance_hint, threads)
            )
        except Exception as exc:  # OpenVINO raises RuntimeError and others
            raise runtime_error(exc, f"OpenVINO cannot compile {path}") from None
        self._attach(compiled, metadata)

    def _read(self, path: Path) -> tuple[Any, dict[str, Any]]:
        """The ov.Model to compile and its poseforge metadata."""
        model = read_ir(path, self.core)
        return model, ir_metadata(model, path)

    def _input_shape(self, shape: tuple[int, int, int, int] | None) -> list[int]:
        """The compiled input shape for a network input `shape` (NCHW; None: dynamic N, H, W)."""
        return list(shape) if shape else [-1, 3, -1, -1]

    def _input(self, batch: np.ndarray) -> np.ndarray:
        """What the compiled model is fed for a float32 NCHW raw-pixel batch."""
        return check_batch(batch)

    @classmethod
    def from_compiled(cls, compiled: Any, metadata: dict[str, Any]) -> OpenVINORunner:
        """A runner around a model someone else compiled (NNCF's accuracy control does)."""
        runner = cls.__new__(cls)
        runner.path, runner.core, runner._options = None, None, (None, None, "LATENCY")
        runner._attach(compiled, metadata)
        return runner

    @classmethod
    def from_model(
        cls,
        model: Any,
        metadata: dict[str, Any],
        precision_hint: str | None = "f32",
        shape: tuple[int, int, int, int] | None = None,
    ) -> OpenVINORunner:
        """A runner for an in-memory `ov.Model` (a copy is reshaped and compiled)."""
        model = model.clone()
        model.reshape({metadata["input"]["name"]: list(shape) if shape else [-1, 3, -1, -1]})
        return cls.from_compiled(ov.Core().compile_model(model, "CPU", compile_settings(precision_hint)), metadata)

    def _attach(self, compiled: Any, metadata: dict[str, Any]) -> None:
        self.compiled, self.metadata = compiled, metadata
        self.artifact = metadata.get("artifact", "ir")
        self.input_name = metadata["input"]["name"]
        try:
            self.outputs = [compiled.output(metadata["outputs"][k]["name"]) for k in ("heatmaps", "pafs")]
        except RuntimeError:
            names = sorted(n for out in compiled.outputs for n in out.get_names())
            raise PoseforgeError(
                f"{self.path or 'the IR'} has no outputs {metadata['outputs']['heatmaps']['name']!r} and "
                f"{metadata['outputs']['pafs']['name']!r} as its metadata says (it has {', '.join(names)[:200]})"
            ) from None
        self.request = compiled.create_infer_request()
        self.settings = {
            "runtime": "openvino",
            "version": ov.get_version(),
            "device": "CPU",
            "performance_hint": str(compiled.get_property("PERFORMANCE_HINT")),
            "precision_hint": compiled.get_property("INFERENCE_PRECISION_HINT").to_string(),
            "threads": int(compiled.get_property("INFERENCE_NUM_THREADS")),
            "streams": int(compiled.get_property("NUM_STREAMS")),
            "optimal_requests": int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")),
        }

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        data = self._input(batch)
        try:
            result = self.request.infer({self.input_name: data})
        except Exception as exc:
            raise runtime_error(exc, f"OpenVINO cannot run {self.artifact} on input {data.shape}") from None
        heatmaps, pafs = (np.array(result[out], dtype=np.float32, copy=True) for out in self.outputs)
        return checked_outputs(heatmaps, pafs, self.artifact)

    def throughput(self, batch: np.ndarray, seconds: float) -> tuple[int, float]:
        """The plugin's optimal number of requests kept in flight for `seconds`."""
        items = itertools.repeat((None, batch))
        results = self.stream(items)
        for _ in range(2 * self.settings["optimal_requests"]):  # warm every request once more
            next(results)
        frames, start = 0, time.perf_counter()
        for _ in results:
            frames += 1
            if time.perf_counter() - start >= seconds:
                break
        elapsed = time.perf_counter() - start
        results.close()
        return frames, elapsed

    def stream(self, items: Iterable[tuple[Any, np.ndarray]]) -> Iterator[tuple[Any, Outputs]]:
        """An async queue of the plugin's optimal number of infer requests: frames N+1.. infer
        while the caller decodes frame N. Results come back in submission order.

        Requests are waited on from this thread rather than completed through Python
        callbacks: a callback that OpenVINO runs on its own thread can still hold Python
        objects when the interpreter exits, which aborts the process.
        """
        free = [self.compiled.create_infer_request() for _ in range(self.settings["optimal_requests"])]
        pending: deque = deque()
        try:
            for key, batch in items:
                if not free:
                    yield self._finish(pending, free)
                request = free.pop()
                data = self._input(batch)
                try:
                    request.start_async({self.input_name: data})
                except Exception as exc:
                    free.append(request)
                    raise runtime_error(exc, f"OpenVINO cannot run {self.artifact} on input {data.shape}") from None
                pending.append((request, key))
            while pending:
                yield self._finish(pending, free)
        finally:
            for request, _ in pending:
                request.wait()

    def _finish(self, pending: deque, free: list) -> tuple[Any, Outputs]:
        request, key = pending.popleft()
        try:
            request.wait()
        except Exception as exc:
            raise runtime_error(exc, f"OpenVINO failed running {self.artifact}") from None
        heatmaps, pafs = (np.array(request.get_tensor(out).data, dtype=np.float32, copy=True) for out in self.outputs)
        free.append(request)
        return key, checked_outputs(heatmaps, pafs, self.artifact)

    def fixed(self, shape: tuple[int, int, int, int], performance_hint: str | None = None) -> OpenVINORunner:
        precision_hint, threads, default_hint = self._options
        return type(self)(self.path, precision_hint, threads, performance_hint or default_hint, shape, self.core)
