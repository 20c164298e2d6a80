"""RuntimeOptions: every setting a network runs with, in one value passed wherever a network runs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from poseforge.errors import PoseforgeError

PRECISION_HINTS = ("f32", "bf16", "f16")
PERFORMANCE_HINTS = ("LATENCY", "THROUGHPUT")
WARMUP_PASSES = 2  # each infer request's first runs allocate and tune: throughput is timed after these passes


@dataclass(frozen=True)
class RuntimeOptions:
    """How to run a network. The defaults are what accuracy checks need: OpenVINO on the CPU with
    precision hint f32 (these CPUs would otherwise run an "FP32" model in bf16), all cores, one
    request at a time, any input size."""

    device: str = "CPU"
    precision_hint: str | None = "f32"  # OpenVINO INFERENCE_PRECISION_HINT; None: the CPU's own choice
    threads: int | None = None  # None: all cores
    performance_hint: str = "LATENCY"  # LATENCY: one request; THROUGHPUT: the plugin's streams, queued
    streams: int | None = None  # None: what the performance hint implies
    shape: tuple[int, int, int, int] | None = None  # network input N, C, H, W; None: N, H and W dynamic
    # OpenVINO pins its threads to cores, the same cores in every process: where several processes
    # share a machine (a node's Ray workers), unpinned threads let the OS spread them.
    pin_threads: bool = True

    def __post_init__(self) -> None:
        if self.device != "CPU":
            raise PoseforgeError(f"device {self.device!r}: poseforge runs on the CPU")
        if self.precision_hint is not None and self.precision_hint not in PRECISION_HINTS:
            raise PoseforgeError(f"precision hint {self.precision_hint!r}: choose from {', '.join(PRECISION_HINTS)}")
        if self.performance_hint not in PERFORMANCE_HINTS:
            raise PoseforgeError(f"performance hint {self.performance_hint!r}: {' or '.join(PERFORMANCE_HINTS)}")
        for name in ("threads", "streams"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise PoseforgeError(f"{name} must be a positive integer, got {value!r}")
        if self.shape is not None:
            n, c, h, w = self.shape
            if n < 1 or c != 3 or h < 8 or w < 8 or h % 8 or w % 8:
                raise PoseforgeError(f"network input shape {self.shape}: expected [N, 3, H, W], H and W multiples of 8")

    def replace(self, **changes: object) -> RuntimeOptions:
        return dataclasses.replace(self, **changes)

    def openvino_config(self) -> dict[str, str]:
        """CPU plugin properties, spelled out so that they can be recorded with every measurement."""
        config = {"PERFORMANCE_HINT": self.performance_hint}
        if self.precision_hint:
            config["INFERENCE_PRECISION_HINT"] = self.precision_hint
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = str(self.threads)
        if self.streams:
            config["NUM_STREAMS"] = str(self.streams)
        if not self.pin_threads:
            config["ENABLE_CPU_PINNING"] = "NO"
        return config


ACCURACY = RuntimeOptions()  # what validation, parity and quantization's checks run with
