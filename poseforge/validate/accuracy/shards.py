"""Validation in shards: the images cut into runs of consecutive ids, each run through the one loop.

    job = ShardJob(artifact, protocol, options, params, skip_bad)
    outputs = [run_shard(job, shard) for shard in split(images, 4)]   # anywhere, in any order
    run = merge(outputs, len(shards))                                  # in image order, each shard once

A single-process validation is one shard run here; a sharded one (`poseforge validate --ray`)
runs the same `run_shard` in worker processes, each of which opens the artifact once and keeps
it for the shards it is given. Detections are merged in shard order, which is image order, and
scored once, so the results are the bytes a single process writes.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poseforge.artifacts import artifact_digest
from poseforge.decode import DecoderParams
from poseforge.errors import PoseforgeError
from poseforge.machine import machine_info, usable_cores
from poseforge.metadata import calibration_record
from poseforge.runtime import Runner, artifact_kind, open_runner
from poseforge.runtime.options import RuntimeOptions
from poseforge.validate.accuracy.dataset import CocoImage
from poseforge.validate.accuracy.loop import LoopResult, check_not_empty, run_loop

# Runs `fn` on every job somewhere (this process, Ray workers); the results in job order.
Dispatch = Callable[[Callable[[Any], Any], list[Any]], list[Any]]


@dataclass(frozen=True)
class Shard:
    index: int  # its place in image order
    images: tuple[CocoImage, ...]


@dataclass(frozen=True)
class ShardJob:
    """What every shard of one validation shares: the artifact and how it runs."""

    artifact: str
    protocol: str
    options: RuntimeOptions
    params: DecoderParams = field(default_factory=DecoderParams)
    skip_bad: bool = False
    artifact_sha256: str | None = None  # where set, a worker refuses an artifact of other bytes
    input_height: int | None = None  # the native protocol's (None: the deploy height)
    # Where set, the calibration record (calibration_text) validation checked before dispatch: a
    # worker refuses a network of another, before its first image.
    calibration: str | None = None


@dataclass
class ShardOutput:
    index: int
    loop: LoopResult
    artifact: str  # the artifact's name (ir-fp32, ...)
    metadata: dict[str, Any]
    runtime: dict[str, Any]  # the runner's settings
    deploy_shape: tuple[int, int]
    machine: dict[str, Any]
    worker: dict[str, Any]  # host and pid of the process that ran it


@dataclass(frozen=True)
class Sharding:
    """How a validation is spread: `dispatch` runs the shards, `shards` of them; `record` says where
    (scheduler, address, ...) for the report."""

    dispatch: Dispatch
    shards: int
    record: dict[str, Any] = field(default_factory=dict)


def shard_threads(artifact: str | Path) -> int:
    """The runtime threads a shard runs with, so that its outputs are the bytes one process gets: one
    for OpenVINO (THROUGHPUT streams run one thread per inference here, and f32, bf16 and INT8 kernels
    give the same bytes on 1 or 2 threads) and onnxruntime; all cores for torch, whose convolutions
    sum in an order that follows its thread count."""
    return usable_cores() if artifact_kind(artifact) == "torch" else 1


def split(images: list[CocoImage], count: int) -> list[Shard]:
    """`images` (in id order) cut into at most `count` runs of consecutive images, sizes within one."""
    count = max(1, min(count, len(images)))
    size, extra = divmod(len(images), count)
    shards, start = [], 0
    for index in range(count):
        end = start + size + (index < extra)
        shards.append(Shard(index, tuple(images[start:end])))
        start = end
    return shards


def calibration_text(metadata: dict[str, Any]) -> str:
    """A network's calibration record (metadata.calibration_record) as text a job carries and compares."""
    return json.dumps(calibration_record(metadata), sort_keys=True)


def open_validation_runner(job: ShardJob) -> Runner:
    """The artifact as validation runs it: THROUGHPUT hint, and the deploy protocol at its static shape."""
    runner = open_runner(job.artifact, job.options.replace(performance_hint="THROUGHPUT"))
    if job.protocol == "deploy":
        runner = runner.with_options(shape=(1, 3, *runner.metadata["input"]["deploy_shape"]))
    return runner


_OPEN: dict[tuple, Runner] = {}  # this process's runner: a worker opens the artifact once for all its shards


def worker_runner(job: ShardJob) -> Runner:
    """The runner for `job` in this process, opened on first use (the bytes checked, where the job says)."""
    key = (job.artifact, job.artifact_sha256, job.protocol, job.options, job.calibration)
    if key not in _OPEN:
        _OPEN.clear()  # one artifact at a time: bounded memory in a long-lived worker
        if job.artifact_sha256 is not None and artifact_digest(job.artifact) != job.artifact_sha256:
            raise PoseforgeError(
                f"{job.artifact} on {platform.node()} is not the artifact being validated (sha256 differs): "
                "every node must see the same files"
            )
        runner = open_validation_runner(job)
        # The file may have been replaced since it was hashed: what runs is what the runner read.
        if job.calibration is not None and calibration_text(runner.metadata) != job.calibration:
            raise PoseforgeError(f"{job.artifact} on {platform.node()} is not the network whose calibration "
                                 "was checked (its calibration record differs): it was replaced meanwhile")  # fmt: skip
        _OPEN[key] = runner
    return _OPEN[key]


def job_height(job: ShardJob, runner: Runner) -> int | None:
    """The native protocol's input height for `job` (its own, else the deploy height); None otherwise."""
    return (job.input_height or runner.metadata["input"]["deploy_shape"][0]) if job.protocol == "native" else None


def run_shard(job: ShardJob, shard: Shard, runner: Runner | None = None, progress: Any = None) -> ShardOutput:
    """Run the shard's images through the one loop (`runner`, else this process's, opened once)."""
    runner = runner or worker_runner(job)
    deploy_shape = tuple(runner.metadata["input"]["deploy_shape"])
    loop = run_loop(runner, list(shard.images), job.protocol, deploy_shape, job.params, job.skip_bad, progress,
                    allow_empty=True, input_height=job_height(job, runner))  # fmt: skip
    return ShardOutput(shard.index, loop, runner.artifact, runner.metadata, dict(runner.settings), deploy_shape,
                       machine_info(), {"host": platform.node(), "pid": os.getpid()})  # fmt: skip


def merge(outputs: list[ShardOutput], shards: int, seconds: float | None = None) -> ShardOutput:
    """The shards as one run, in image order: each shard exactly once, all of one artifact run the
    same way on one machine class (INT8 and bf16 results follow the class's kernels)."""
    indices = sorted(o.index for o in outputs)
    if indices != list(range(shards)):
        raise PoseforgeError(f"shards {indices} came back, expected 0 to {shards - 1} once each")
    ordered = sorted(outputs, key=lambda o: o.index)
    first = ordered[0]
    classes = sorted({str(o.machine["class"]) for o in ordered})
    if len(classes) > 1:
        raise PoseforgeError(f"the shards ran on machine classes {', '.join(classes)}: INT8 and bf16 results "
                             "follow the class, so a validation runs on nodes of one class")  # fmt: skip
    for other in ordered[1:]:
        if other.artifact != first.artifact or other.runtime.get("precision_hint") != first.runtime.get(
            "precision_hint"
        ):
            raise PoseforgeError(f"shard {other.index} ran {other.artifact} with {other.runtime}, shard 0 "
                                 f"{first.artifact} with {first.runtime}")  # fmt: skip
    loop = LoopResult()
    for output in ordered:
        loop.results += output.loop.results
        loop.image_ids += output.loop.image_ids
        loop.skipped += output.loop.skipped
        loop.decode_ms += output.loop.decode_ms
        loop.frames += output.loop.frames
    loop.seconds = seconds if seconds is not None else sum(o.loop.seconds for o in ordered)
    check_not_empty(loop)
    return ShardOutput(-1, loop, first.artifact, first.metadata, first.runtime, first.deploy_shape, first.machine,
                       first.worker)  # fmt: skip


def workers_of(outputs: list[ShardOutput]) -> dict[str, int]:
    """How many processes and hosts ran the shards."""
    return {
        "workers": len({(o.worker["host"], o.worker["pid"]) for o in outputs}),
        "nodes": len({o.worker["host"] for o in outputs}),
    }
