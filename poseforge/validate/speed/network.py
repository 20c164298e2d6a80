"""Network speed at a fixed input shape, measured the way benchmark_app does.

- latency: the LATENCY hint, one request, after warm-up: median and p90 of single inferences;
- throughput: the THROUGHPUT hint, the runtime kept as busy as it can be (OpenVINO: an
  AsyncInferQueue of its optimal number of requests; torch and onnxruntime: one request after
  another, each already using every core), frames per second.
Numbers are only comparable within one run on one machine: compare them as ratios.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from poseforge.machine import machine_info
from poseforge.runtime import Runner, open_runner
from poseforge.runtime.options import ACCURACY, RuntimeOptions
from poseforge.validate.accuracy.dataset import CocoImage
from poseforge.validate.accuracy.loop import run_loop


def latency_ms(runner: Runner, batch: np.ndarray, warmup: int = 5, iterations: int = 50) -> dict[str, float]:
    for _ in range(warmup):
        runner.run(batch)
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        runner.run(batch)
        times.append((time.perf_counter() - start) * 1e3)
    return summarize_ms(times)


def summarize_ms(times: list[float]) -> dict[str, float]:
    values = np.asarray(times, dtype=np.float64)
    return {
        "median": float(np.median(values)),
        "p90": float(np.percentile(values, 90)),
        "mean": float(values.mean()),
        "count": len(values),
    }


def network_speed(
    artifact: str | Path,
    shape: tuple[int, int, int, int],
    options: RuntimeOptions = ACCURACY,
    iterations: int = 50,
    seconds: float = 10.0,
) -> dict[str, Any]:
    """Latency (LATENCY hint) and throughput (THROUGHPUT hint) of `artifact` at `shape`, raw-pixel
    input of grey 128, with `options` (precision hint, threads) otherwise."""
    batch = np.full(shape, 128.0, dtype=np.float32)
    latency_runner = open_runner(artifact, options.replace(performance_hint="LATENCY", shape=shape))
    latency = latency_ms(latency_runner, batch, iterations=iterations)
    latency_settings = latency_runner.settings
    del latency_runner  # free its threads before the throughput run
    throughput_runner = open_runner(artifact, options.replace(performance_hint="THROUGHPUT", shape=shape))
    frames, elapsed = throughput_runner.throughput(batch, seconds)
    return {
        "shape": list(shape),
        "latency_ms": latency,
        "throughput_fps": frames / elapsed,
        "throughput_frames": frames,
        "latency_settings": latency_settings,
        "throughput_settings": throughput_runner.settings,
    }


def end_to_end(
    artifact: str | Path,
    images: list[CocoImage],
    deploy_shape: tuple[int, int],
    options: RuntimeOptions = ACCURACY,
    seconds: float = 10.0,
) -> dict[str, Any]:
    """Frames per second of the whole pipeline at the deploy shape: read, letterbox, infer
    (THROUGHPUT hint, later frames in flight) and decode, looping over `images` for `seconds`."""
    runner = open_runner(artifact, options.replace(performance_hint="THROUGHPUT", shape=(1, 3, *deploy_shape)))
    run_loop(runner, images[:4], "deploy", deploy_shape, keep_results=False)  # warm-up
    frames, elapsed, decode_ms = 0, 0.0, []
    while elapsed < seconds or frames == 0:
        result = run_loop(runner, images, "deploy", deploy_shape, keep_results=False)
        frames, elapsed = frames + result.frames, elapsed + result.seconds
        decode_ms += result.decode_ms
    return {"e2e_fps": frames / elapsed, "frames": frames, "seconds": elapsed, "decode_ms": summarize_ms(decode_ms)}


def measure_speed(
    artifact: str | Path,
    images: list[CocoImage],
    deploy_shape: tuple[int, int],
    options: RuntimeOptions = ACCURACY,
    iterations: int = 50,
    seconds: float = 10.0,
) -> dict[str, Any]:
    """Network latency and throughput, and end-to-end fps, at the deploy shape, in one go."""
    shape = (1, 3, *deploy_shape)
    network = network_speed(artifact, shape, options, iterations, seconds)
    pipeline = end_to_end(artifact, images, deploy_shape, options, seconds)
    return {
        **network,
        "e2e_fps": pipeline["e2e_fps"],
        "e2e": pipeline,
        "decode_deploy_ms": pipeline["decode_ms"],
        "machine": machine_info(),
    }


def write_speed_file(
    artifact: str | Path,
    images: list[CocoImage],
    output: str | Path,
    options: RuntimeOptions = ACCURACY,
    iterations: int = 50,
    seconds: float = 10.0,
) -> dict[str, Any]:
    """measure_speed at the artifact's deploy shape, written as a speed file (documents.SPEED)
    that both of its validate reports include."""
    from poseforge.artifacts import artifact_digest
    from poseforge.documents import SPEED, write_document
    from poseforge.fileio import claim
    from poseforge.runtime import artifact_metadata

    claim(output)  # refused now, not after the measurement
    meta = artifact_metadata(artifact)
    speed = measure_speed(artifact, images, tuple(meta["input"]["deploy_shape"]), options, iterations, seconds)
    block = {
        "schema": SPEED.schema,
        "artifact": meta["artifact"],
        "artifact_sha256": artifact_digest(artifact),
        **speed,
    }
    write_document(output, SPEED, block)
    return block


def read_speed_file(path: str | Path, artifact: str | Path, precision_hint: str | None = None) -> dict[str, Any]:
    """A speed file, refused if it was measured on another artifact (any of its files) or under
    another precision hint."""
    from poseforge.artifacts import artifact_digest
    from poseforge.documents import SPEED, read_document
    from poseforge.errors import PoseforgeError

    block = read_document(path, SPEED)
    if block["artifact_sha256"] != artifact_digest(artifact):
        raise PoseforgeError(f"{path} was measured on another version of {artifact}: measure it again")
    measured = block["throughput_settings"].get("precision_hint")
    if precision_hint is not None and measured != precision_hint:
        raise PoseforgeError(f"{path} was measured with precision hint {measured}, not {precision_hint}")
    return block
