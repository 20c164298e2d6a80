"""The speed targets, defined once: what `poseforge bench` judges and the gate checks.

Each is a ratio (or a time) measured in one run on one machine. Ratios travel between machines
of a class, not across classes: INT8 over FP32 is about 1.9x with AVX2 kernels and 7.5x on AMX.
So a target has up to three figures:
- `threshold`: the project's goal, judged by bench on the machine it runs on;
- `gate_tolerance`: how far (relative) a measurement may fall below the baseline's expectation
  for its machine class before the gate fails, sized to the ratio's noise on a shared 2-core
  machine (a decode time of about a millisecond against a network latency of tens moves by tens
  of percent from run to run, so only a doubling fails);
- `bound`: what must hold on every machine class, the gate's check where the baseline has no
  section for the class (or one recorded on other bytes): ratios whose two sides share the kernels'
  tier (our INT8 against Intel's, measured in the same run) or hardly depend on it (decode share).
A verdict is computed on the figure as printed (`shown`), so a table never says "0.950 >= 0.95 NO".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Target:
    name: str
    better: str  # "higher" or "lower"
    threshold: float
    meaning: str
    gate_tolerance: float | None = None  # None: judged by bench, not carried into the baseline
    bound: float | None = None  # None: no machine-independent bound
    uses: tuple[str, ...] = ()  # the runs its measurement needs: a bench carrying it must list them
    digits: int = 3

    def shown(self, value: float) -> str:
        return f"{value:.{self.digits}f}"

    def _meets(self, value: float, limit: float) -> bool:
        value = float(self.shown(value))
        return value >= limit if self.better == "higher" else value <= limit

    def holds(self, value: float) -> bool:
        return self._meets(value, self.threshold)

    def within_bound(self, value: float) -> bool:
        return self.bound is None or self._meets(value, self.bound)

    @property
    def wanted(self) -> str:
        return f"{'>=' if self.better == 'higher' else '<='} {self.threshold:g}"

    @property
    def bounded(self) -> str:
        return f"{'>=' if self.better == 'higher' else '<='} {self.bound:g}"


TARGETS: tuple[Target, ...] = (
    Target("int8_over_fp32_throughput", "higher", 3.3, "INT8 / FP32 network throughput (deploy shape, interleaved)",
           0.25, bound=1.2, uses=("ir-fp32", "ir-int8")),
    Target("int8_over_omz_throughput", "higher", 1.0, "INT8 / Intel's INT8 release throughput (interleaved)", 0.15,
           bound=0.85, uses=("ir-int8", "omz-int8")),
    Target("decode_over_latency", "lower", 0.10, "decode time / FP32 network latency (deploy shape)", 1.0, bound=0.10,
           uses=("ir-fp32",)),
    Target("e2e_over_throughput", "higher", 0.85, "end-to-end fps / FP32 network throughput", 0.15, bound=0.7,
           uses=("ir-fp32",)),
    Target("val_decode_ms", "lower", 10.0, "val protocol: decode median, ms", uses=("ir-fp32",), digits=2),
    Target("val_decode_speedup", "higher", 10.0, "val protocol: decode speed-up over the upstream procedure",
           uses=("ir-fp32",), digits=1),
    Target("native_over_letterbox_e2e", "higher", 1.25, "end to end, native input over letterboxed (640x480 video)"),
    Target("e2e_over_network_native", "higher", 0.9, "end to end over the network alone, native shape"),
    Target("predict_over_bound", "higher", 0.9, "predict (end to end over the network alone) over its bound N/(N+P)"),
    Target("api_over_bound", "higher", 0.9, "API path (stream over the network alone) over its bound N/(N+P)"),
)  # fmt: skip
BY_NAME = {t.name: t for t in TARGETS}
GATED = {t.name: t for t in TARGETS if t.gate_tolerance is not None}

# How bench computes each ratio its `figures` hold (the interleaved ones come from its rounds:
# interleaved.THROUGHPUT_PAIRS). The gate computes them again from the same figures.
FIGURE_RATIOS: dict[str, Callable[[dict[str, Any]], float]] = {
    "decode_over_latency": lambda f: f["deploy"]["ours_ms"]["median"] / f["network"]["latency_ms"]["median"],
    "e2e_over_throughput": lambda f: f["network"]["e2e_fps"] / f["network"]["throughput_fps"],
    "val_decode_ms": lambda f: f["val"]["ours_ms"]["median"],
    "val_decode_speedup": lambda f: f["val"]["reference_ms"]["median"] / f["val"]["ours_ms"]["median"],
}
