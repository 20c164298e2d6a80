"""OpenVINO runner (CPU plugin), with every compile setting spelled out and recorded.

    runner = OpenVINORunner.open("ir/fp32/model.xml", RuntimeOptions(shape=(1, 3, 256, 456)))
    faster = runner.with_options(performance_hint="THROUGHPUT")   # recompiled, not read again

Any IR poseforge made or imported carries its metadata in rt_info, including the names of its
heatmaps and pafs outputs: that is how the Open Model Zoo IR, whose outputs are named
differently, runs through this same code. The input is dynamic ([?, 3, ?, ?]) for accuracy
runs over images of many sizes, and static for speed runs (RuntimeOptions.shape).

`run` is safe to call from many threads at once: each call takes an infer request of its own
from a pool (one is made when none is idle; at most MAX_IDLE_REQUESTS are kept), so no call
ever reads another's outputs. `stream` and `throughput` make their own requests too.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from poseforge.errors import PoseforgeError
from poseforge.ir_files import ir_metadata, read_ir
from poseforge.runtime.common import Outputs, check_batch, checked_outputs, runtime_error
from poseforge.runtime.options import WARMUP_PASSES, RuntimeOptions

MAX_IDLE_REQUESTS = 8  # infer requests kept for later `run` calls; more concurrent calls make their own


class OpenVINORunner:
    """A compiled network and the metadata saying what its input and outputs are."""

    def __init__(
        self,
        compiled: Any,
        metadata: dict[str, Any],
        options: RuntimeOptions,
        model: Any = None,
        source: str = "the IR",
    ) -> None:
        """Wrap `compiled` (an ov.CompiledModel); `model` (the ov.Model it came from) lets
        `with_options` compile it again with other settings."""
        self.compiled, self.metadata, self.options, self.model, self.source = compiled, metadata, options, model, source
        self.artifact = metadata.get("artifact", "ir")
        self.input_name = metadata["input"]["name"]
        try:
            self.outputs = [compiled.output(metadata["outputs"][k]["name"]) for k in ("heatmaps", "pafs")]
        except RuntimeError:
            names = sorted(n for out in compiled.outputs for n in out.get_names())
            raise PoseforgeError(
                f"{source} has no outputs {metadata['outputs']['heatmaps']['name']!r} and "
                f"{metadata['outputs']['pafs']['name']!r} as its metadata says (it has {', '.join(names)[:200]})"
            ) from None
        self._idle = [compiled.create_infer_request()]  # requests no `run` call holds
        self._idle_lock = threading.Lock()
        self.settings = compiled_settings(compiled, options)

    @classmethod
    def open(cls, path: str | Path, options: RuntimeOptions) -> OpenVINORunner:
        """Read an IR (checked: both files, the metadata) once and compile it with `options`."""
        model = read_ir(path)
        return cls.from_model(model, ir_metadata(model, path), options, str(path))

    @classmethod
    def from_model(
        cls, model: Any, metadata: dict[str, Any], options: RuntimeOptions, source: str = "the in-memory IR"
    ) -> OpenVINORunner:
        """Compile an ov.Model (a reshaped copy: `model` itself is left as it is)."""
        return cls(compile_model(model, metadata, options, source, cls.input_shape), metadata, options, model, source)

    @staticmethod
    def input_shape(shape: tuple[int, int, int, int] | None) -> list[int]:
        """The compiled input shape for a network input `shape` (NCHW; None: dynamic N, H, W)."""
        return list(shape) if shape else [-1, 3, -1, -1]

    def with_options(self, **changes: Any) -> OpenVINORunner:
        """The same network compiled again with some options changed (a static shape, a hint)."""
        if self.model is None:
            raise PoseforgeError(f"{self.source} was compiled elsewhere: it cannot be recompiled with other options")
        return type(self).from_model(self.model, self.metadata, self.options.replace(**changes), self.source)

    def _input(self, batch: np.ndarray) -> np.ndarray:
        """What the compiled model is fed for a float32 NCHW raw-pixel batch."""
        return check_batch(batch)

    @contextlib.contextmanager
    def _request(self) -> Iterator[Any]:
        """An infer request for this call alone: an idle one, else a new one."""
        with self._idle_lock:
            request = self._idle.pop() if self._idle else None
        if request is None:
            request = self.compiled.create_infer_request()
        try:
            yield request
        finally:
            with self._idle_lock:
                if len(self._idle) < MAX_IDLE_REQUESTS:
                    self._idle.append(request)

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        data = self._input(batch)
        with self._request() as request:
            try:
                result = request.infer({self.input_name: data})
            except Exception as exc:
                raise runtime_error(exc, f"OpenVINO cannot run {self.artifact} on input {data.shape}") from None
            # Copied while the request is still this call's: its tensors are reused by the next.
            heatmaps, pafs = (np.array(result[out], dtype=np.float32, copy=True) for out in self.outputs)
        return checked_outputs(heatmaps, pafs, self.source)

    def throughput(self, batch: np.ndarray, seconds: float, requests: int | None = None) -> tuple[int, float]:
        """Frames done and seconds taken with `requests` (default: the plugin's optimal number)
        kept in flight for `seconds`."""
        requests = requests or self.settings["optimal_requests"]
        results = self.stream(itertools.repeat((None, batch)), requests)
        for _ in range(WARMUP_PASSES * requests):
            next(results)
        frames, start = 0, time.perf_counter()
        for _ in results:
            frames += 1
            if time.perf_counter() - start >= seconds:
                break
        elapsed = time.perf_counter() - start
        results.close()
        return frames, elapsed

    def stream(
        self, items: Iterable[tuple[Any, np.ndarray]], requests: int | None = None
    ) -> Iterator[tuple[Any, Outputs]]:
        """An async queue of `requests` infer requests (default: the plugin's optimal number):
        frames N+1.. infer while the caller decodes frame N. Results come back in submission order.

        Requests are waited on from this thread rather than completed through Python
        callbacks: a callback that OpenVINO runs on its own thread can still hold Python
        objects when the interpreter exits, which aborts the process.

        Each input is shared with its request, not copied into it: the array is held in `pending`
        until its request has finished, and nothing writes to a batch once it is handed over.
        If `items` raises, the frames already in flight are finished and yielded first: a bad frame
        costs its own result, not those of the good frames before it.
        """
        free = [self.compiled.create_infer_request() for _ in range(requests or self.settings["optimal_requests"])]
        pending: deque = deque()
        items = iter(items)
        try:
            while True:
                try:
                    key, batch = next(items)
                except StopIteration:
                    break
                except Exception:
                    while pending:
                        yield self._finish(pending, free)
                    raise
                if not free:
                    yield self._finish(pending, free)
                request = free.pop()
                data = self._input(batch)
                try:
                    request.start_async({self.input_name: data}, share_inputs=True)
                except Exception as exc:
                    free.append(request)
                    raise runtime_error(exc, f"OpenVINO cannot run {self.artifact} on input {data.shape}") from None
                pending.append((request, key, data))
            while pending:
                yield self._finish(pending, free)
        finally:
            for request, *_ in pending:
                request.wait()

    def _finish(self, pending: deque, free: list) -> tuple[Any, Outputs]:
        request, key, _ = pending.popleft()  # its input array is let go once it has finished
        try:
            request.wait()
        except Exception as exc:
            raise runtime_error(exc, f"OpenVINO failed running {self.artifact}") from None
        heatmaps, pafs = (np.array(request.get_tensor(out).data, dtype=np.float32, copy=True) for out in self.outputs)
        free.append(request)
        return key, checked_outputs(heatmaps, pafs, self.source)


def compiled_settings(compiled: Any, options: RuntimeOptions) -> dict[str, Any]:
    """What a compiled network runs with, as its plugin reports it. AUTO reports only its hint,
    requests and the device it chose: the CPU's figures are None there."""

    def read(name: str, kind: Any) -> Any:
        try:
            return kind(compiled.get_property(name))
        except Exception:  # a property this device's plugin does not have
            return None

    return {
        "runtime": "openvino",
        "version": ov.get_version(),
        "device": options.device,
        "execution_devices": read("EXECUTION_DEVICES", list),
        "performance_hint": read("PERFORMANCE_HINT", str),
        "precision_hint": read("INFERENCE_PRECISION_HINT", lambda v: v.to_string()) or options.precision_hint,
        "threads": read("INFERENCE_NUM_THREADS", int),
        "streams": read("NUM_STREAMS", int),
        "optimal_requests": read("OPTIMAL_NUMBER_OF_INFER_REQUESTS", int) or 1,
        "cpu_pinning": read("ENABLE_CPU_PINNING", bool),
    }


def check_device(device: str) -> None:
    """Refuse, in one line, a device OpenVINO does not see here (AUTO needs any one)."""
    available = core().available_devices
    found = bool(available) if device == "AUTO" else any(d == device or d.split(".")[0] == device for d in available)
    if not found:
        raise PoseforgeError(f"device {device} is not available here: OpenVINO's available_devices are "
                             f"{', '.join(available) or 'none'}")  # fmt: skip


def compile_model(model: Any, metadata: dict[str, Any], options: RuntimeOptions, source: str, input_shape: Any) -> Any:
    """A copy of `model` reshaped for `options.shape` (via `input_shape`) and compiled with `options`."""
    check_device(options.device)
    model = model.clone()
    try:
        model.reshape({metadata["input"]["name"]: input_shape(options.shape)})
        return core().compile_model(model, options.device, options.openvino_config())
    except Exception as exc:  # OpenVINO raises RuntimeError and others
        raise runtime_error(exc, f"OpenVINO cannot compile {source}") from None


_CORE: list[Any] = []


def core() -> Any:
    """One ov.Core per process: creating one loads the plugins, which takes time."""
    if not _CORE:
        _CORE.append(ov.Core())
    return _CORE[0]
