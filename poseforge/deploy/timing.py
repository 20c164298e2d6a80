"""Where the time goes: milliseconds per frame for each stage of the deployment pipeline.

    times = StageTimes()
    with times.stage("decode"):
        ...
    times.summary()   # {"stages": {stage: {"median_ms", "p90_ms", "frames"}}, "fps": ..., "slowest": ...}

The stages are those Open Model Zoo's demos print, plus tracking: read (decoding the image or
video frame), preprocess (resize and pad), infer (waiting for the network, with later frames
already in flight), decode (heatmaps and PAFs to people), track (ids and smoothing), draw and
write. Calls from several threads may time stages at once: the figures are kept under a lock.
Compiling the network (once per input shape) is not a per-frame stage: it is kept apart, and
end-to-end fps leaves it out, as a network-only throughput figure does; so is the first frame's
time after compiling (`first_frame_seconds`). `steady_fps` is also measured as a network-only figure
is: after a warm-up (each infer request's first runs, the read-ahead filling), over the rest.
Each stage keeps its last MAX_SAMPLES times: a camera that runs for days stays in bounded memory.
A stage timed with `stage()` also records the CPU time of its thread (`cpu_median_ms`, and
`cpu_mean_ms`: what it costs per frame over a run): on cores shared with inference, a stage's
wall time is its CPU time plus the time it waited for a core.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import numpy as np

STAGES = ("read", "preprocess", "infer", "decode", "track", "draw", "write")
MAX_SAMPLES = 10_000  # per stage: the median and p90 are over the most recent frames


class StageTimes:
    def __init__(self) -> None:
        self._ms: dict[str, deque[float]] = {stage: deque(maxlen=MAX_SAMPLES) for stage in STAGES}
        self._cpu_ms: dict[str, deque[float]] = {stage: deque(maxlen=MAX_SAMPLES) for stage in STAGES}
        self._start: float | None = None
        self._end: float | None = None
        self.frames = 0
        self.compile_seconds = 0.0
        self.warmup_frames = 0  # set by the runner's user: frames before the steady clock starts
        self._warm: tuple[float, float] | None = None  # (time, compile seconds) when the warm-up ended
        self._first: float | None = None  # seconds to the first frame, compiling left out
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float, cpu_seconds: float | None = None) -> None:
        with self._lock:
            self._ms[stage].append(seconds * 1e3)
            if cpu_seconds is not None:
                self._cpu_ms[stage].append(cpu_seconds * 1e3)

    @contextlib.contextmanager
    def stage(self, stage: str) -> Iterator[None]:
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - start, time.thread_time() - cpu)

    @contextlib.contextmanager
    def compiling(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self.compile_seconds += time.perf_counter() - start

    def begin(self) -> None:
        """The start of the end-to-end clock (the first frame asked for)."""
        self._start = time.perf_counter()

    def frame_done(self) -> None:
        with self._lock:
            self.frames += 1
            self._end = time.perf_counter()
            if self.frames == 1 and self._start is not None:
                self._first = self._end - self._start - self.compile_seconds
            if self.frames == self.warmup_frames:
                self._warm = (self._end, self.compile_seconds)

    def steady_from_now(self) -> None:
        """Restart the steady clock here: what came before (a warm-up, a measurement) is left out."""
        self.warmup_frames = self.frames
        self._warm = (time.perf_counter(), self.compile_seconds)

    @property
    def seconds(self) -> float:
        return (self._end - self._start) if self._start is not None and self._end is not None else 0.0

    def summary(self) -> dict[str, Any]:
        """Median and p90 per stage that ran, end-to-end fps (compiling left out), the slowest stage
        by median."""
        with self._lock:
            stages = {stage: _figures(ms, self._cpu_ms[stage]) for stage, ms in self._ms.items() if ms}
        slowest = max(stages, key=lambda s: stages[s]["median_ms"]) if stages else None
        running = self.seconds - self.compile_seconds
        fps = self.frames / running if self.seconds > 0 and running > 0 else None
        return {"stages": stages, "fps": fps, "steady_fps": self._steady_fps(), "frames": self.frames,
                "seconds": self.seconds, "compile_seconds": self.compile_seconds,
                "first_frame_seconds": self._first, "slowest": slowest}  # fmt: skip

    def _steady_fps(self) -> float | None:
        """Frames per second after the warm-up (None: no frame came after it)."""
        if self._warm is None or self._end is None or self.frames <= self.warmup_frames:
            return None
        start, compiled = self._warm
        running = (self._end - start) - (self.compile_seconds - compiled)
        return (self.frames - self.warmup_frames) / running if running > 0 else None


def _figures(ms: deque[float], cpu_ms: deque[float]) -> dict[str, Any]:
    figures: dict[str, Any] = {"median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)),
                               "frames": len(ms)}  # fmt: skip
    if cpu_ms:
        figures["cpu_median_ms"] = float(np.median(cpu_ms))
        figures["cpu_mean_ms"] = float(np.mean(cpu_ms))
    return figures
