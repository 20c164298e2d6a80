"""What every runner shares: the output pair, input and output checks, error lines, and the
throughput and streaming loops of runtimes that run one request at a time."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from poseforge.errors import PoseforgeError

Outputs = tuple[np.ndarray, np.ndarray]  # heatmaps, pafs


def sequential_throughput(run: Callable[[np.ndarray], object], batch: np.ndarray, seconds: float) -> tuple[int, float]:
    """One request after another: for runtimes whose one request already uses every core."""
    frames, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or frames == 0:
        run(batch)
        frames += 1
    return frames, elapsed


def threaded_stream(
    run: Callable[[np.ndarray], Outputs], items: Iterable[tuple[Any, np.ndarray]], depth: int = 1
) -> Iterator[tuple[Any, Outputs]]:
    """`Runner.stream` for runtimes that release the GIL while computing: one worker thread
    runs the next `depth` items while the caller handles the current result."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="infer") as pool:
        pending: deque = deque()
        for key, batch in items:
            pending.append((key, pool.submit(run, batch)))
            if len(pending) > depth:
                key_done, future = pending.popleft()
                yield key_done, future.result()
        while pending:
            key_done, future = pending.popleft()
            yield key_done, future.result()


def checked_outputs(heatmaps: np.ndarray, pafs: np.ndarray, artifact: str) -> Outputs:
    """The network's outputs, refused (one line, naming `artifact`: the file where there is one) if
    they are not 19 + 38 finite maps."""
    if heatmaps.ndim != 4 or heatmaps.shape[1] != 19 or pafs.ndim != 4 or pafs.shape[1] != 38:
        raise PoseforgeError(f"{artifact} returned maps of shapes {heatmaps.shape} and {pafs.shape}, not 19 + 38 maps")
    if not (np.isfinite(heatmaps).all() and np.isfinite(pafs).all()):
        raise PoseforgeError(f"{artifact} returned non-finite maps (NaN or inf): its weights or input are broken")
    return heatmaps, pafs


def runtime_error(exc: BaseException, what: str) -> PoseforgeError:
    """A runtime library's exception as one line: its last meaningful line of text."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and not ln.strip().startswith("[")]
    reason = lines[-1] if lines else type(exc).__name__
    return PoseforgeError(f"{what}: {reason[:300]}")


def check_batch(batch: np.ndarray) -> np.ndarray:
    if batch.ndim != 4 or batch.shape[1] != 3 or batch.shape[2] % 8 or batch.shape[3] % 8:
        raise PoseforgeError(f"network input must be [N, 3, H, W] with H and W multiples of 8, got {batch.shape}")
    return np.ascontiguousarray(batch, dtype=np.float32)
