"""Where the time goes: milliseconds per frame for each stage of the deployment pipeline.

    times = StageTimes()
    with times.stage("decode"):
        ...
    times.summary()   # {"stages": {stage: {"median_ms", "p90_ms", "frames"}}, "fps": ..., "slowest": ...}

The stages are those Open Model Zoo's demos print, plus tracking: read (decoding the image or
video frame), preprocess (resize and pad), infer (waiting for the network, with later frames
already in flight), decode (heatmaps and PAFs to people), track (ids and smoothing), draw and
write. Each stage is timed by one thread, so the lists need no lock.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

STAGES = ("read", "preprocess", "infer", "decode", "track", "draw", "write")


class StageTimes:
    def __init__(self) -> None:
        self._ms: dict[str, list[float]] = {stage: [] for stage in STAGES}
        self._start: float | None = None
        self._end: float | None = None
        self.frames = 0

    def add(self, stage: str, seconds: float) -> None:
        self._ms[stage].append(seconds * 1e3)

    @contextlib.contextmanager
    def stage(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - start)

    def begin(self) -> None:
        """The start of the end-to-end clock (the first frame asked for)."""
        self._start = time.perf_counter()

    def frame_done(self) -> None:
        self.frames += 1
        self._end = time.perf_counter()

    @property
    def seconds(self) -> float:
        return (self._end - self._start) if self._start is not None and self._end is not None else 0.0

    def summary(self) -> dict[str, Any]:
        """Median and p90 per stage that ran, end-to-end fps, and the slowest stage by median."""
        stages = {
            stage: {
                "median_ms": float(np.median(ms)),
                "p90_ms": float(np.percentile(ms, 90)),
                "frames": len(ms),
            }
            for stage, ms in self._ms.items()
            if ms
        }
        slowest = max(stages, key=lambda s: stages[s]["median_ms"]) if stages else None
        fps = self.frames / self.seconds if self.seconds > 0 else None
        return {"stages": stages, "fps": fps, "frames": self.frames, "seconds": self.seconds, "slowest": slowest}
