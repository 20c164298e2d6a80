"""The speed targets, defined once: what `poseforge bench` judges and the gate checks.

Each is a ratio (or a time) measured in one run on one machine: ratios travel between machines,
absolute fps do not. `threshold` is the project's target; `gate_tolerance` is how far (relative)
a measurement may fall below the committed baseline's before the gate fails, sized to the
ratio's noise on a shared 2-core machine (a decode time of about a millisecond against a
network latency of tens moves by tens of percent from run to run, so only a doubling fails).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    name: str
    better: str  # "higher" or "lower"
    threshold: float
    meaning: str
    gate_tolerance: float | None = None  # None: judged by bench, not carried into the baseline

    def holds(self, value: float) -> bool:
        return value >= self.threshold if self.better == "higher" else value <= self.threshold

    @property
    def wanted(self) -> str:
        return f"{'>=' if self.better == 'higher' else '<='} {self.threshold:g}"


TARGETS: tuple[Target, ...] = (
    Target("int8_over_fp32_throughput", "higher", 3.3, "INT8 / FP32 network throughput (deploy shape, interleaved)",
           0.25),
    Target("int8_over_omz_throughput", "higher", 0.95, "INT8 / Intel's INT8 release throughput (interleaved)", 0.15),
    Target("decode_over_latency", "lower", 0.10, "decode time / FP32 network latency (deploy shape)", 1.0),
    Target("e2e_over_throughput", "higher", 0.85, "end-to-end fps / FP32 network throughput", 0.15),
    Target("val_decode_ms", "lower", 10.0, "val protocol: decode median, ms"),
    Target("val_decode_speedup", "higher", 10.0, "val protocol: decode speed-up over the upstream procedure"),
    Target("native_over_letterbox_e2e", "higher", 1.25, "end to end, native input over letterboxed (640x480 video)"),
    Target("e2e_over_network_native", "higher", 0.9, "end to end over the network alone, native shape"),
    Target("predict_over_bound", "higher", 0.9, "predict (end to end over the network alone) over its bound N/(N+P)"),
    Target("api_over_bound", "higher", 0.9, "API path (stream over the network alone) over its bound N/(N+P)"),
)  # fmt: skip
BY_NAME = {t.name: t for t in TARGETS}
GATED = {t.name: t for t in TARGETS if t.gate_tolerance is not None}
