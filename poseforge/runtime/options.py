"""RuntimeOptions: every setting a network runs with, in one value passed wherever a network runs."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from poseforge.errors import PoseforgeError

PRECISION_HINTS = ("f32", "bf16", "f16")
PERFORMANCE_HINTS = ("LATENCY", "THROUGHPUT")
WARMUP_PASSES = 2  # each infer request's first runs allocate and tune: throughput is timed after these passes
DEVICES = ("CPU", "AUTO", "GPU", "NPU")  # OpenVINO's device names; GPU.1, NPU.0 pick one of several
_DEVICE = re.compile(r"(CPU|AUTO|GPU(\.\d{1,2})?|NPU(\.\d{1,2})?)")


@dataclass(frozen=True)
class RuntimeOptions:
    """How to run a network. The defaults are what accuracy checks need: OpenVINO on the CPU with
    precision hint f32 (these CPUs would otherwise run an "FP32" model in bf16), all cores, one
    request at a time, any input size. `device` is OpenVINO's name (AUTO: the plugin picks); the
    thread count concerns the CPU only."""

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
        if not (isinstance(self.device, str) and _DEVICE.fullmatch(self.device)):
            raise PoseforgeError(f"device {self.device!r}: choose from {', '.join(DEVICES)} (OpenVINO's names)")
        if self.precision_hint is not None and self.precision_hint not in PRECISION_HINTS:
            raise PoseforgeError(f"precision hint {self.precision_hint!r}: choose from {', '.join(PRECISION_HINTS)}")
        if self.performance_hint not in PERFORMANCE_HINTS:
            raise PoseforgeError(f"performance hint {self.performance_hint!r}: {' or '.join(PERFORMANCE_HINTS)}")
        for name in ("threads", "streams"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise PoseforgeError(f"{name} must be a positive integer, got {value!r}")
        if self.device.startswith(("GPU", "NPU")) and self.threads:
            raise PoseforgeError(f"threads sets the CPU's inference threads: not for device {self.device}")
        if self.shape is not None:
            n, c, h, w = self.shape
            if n < 1 or c != 3 or h < 8 or w < 8 or h % 8 or w % 8:
                raise PoseforgeError(f"network input shape {self.shape}: expected [N, 3, H, W], H and W multiples of 8")

    def replace(self, **changes: object) -> RuntimeOptions:
        return dataclasses.replace(self, **changes)

    def openvino_config(self) -> dict[str, Any]:
        """Plugin properties, spelled out so that they can be recorded with every measurement."""
        config: dict[str, Any] = {"PERFORMANCE_HINT": self.performance_hint}
        if self.precision_hint:
            config["INFERENCE_PRECISION_HINT"] = self.precision_hint
        cpu = {}
        if self.threads:
            cpu["INFERENCE_NUM_THREADS"] = str(self.threads)
        if self.streams:
            cpu["NUM_STREAMS"] = str(self.streams)
        if not self.pin_threads:
            cpu["ENABLE_CPU_PINNING"] = "NO"
        if self.device == "AUTO" and cpu:  # the CPU's own settings, for when AUTO picks the CPU
            config["DEVICE_PROPERTIES"] = {"CPU": cpu}
        else:
            config.update(cpu)
        return config


ACCURACY = RuntimeOptions()  # what validation, parity and quantization's checks run with
