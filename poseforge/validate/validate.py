"""Validate one artifact under one protocol: COCO keypoint AP and speed, written as a report.

The report (`reports/<artifact>-<protocol>.json`) and the pycocotools results file
(`reports/results/<artifact>-<protocol>.json`) are written atomically.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

from poseforge.decode import DecoderParams
from poseforge.errors import PoseforgeError
from poseforge.fileio import read_json, sha256_file, write_json
from poseforge.metadata import toolchain_versions
from poseforge.preprocess import PROTOCOLS
from poseforge.runtime import Runner, open_runner
from poseforge.ui import progress
from poseforge.validate.dataset import CocoImage, CocoKeypoints
from poseforge.validate.loop import run_loop
from poseforge.validate.machine import machine_info
from poseforge.validate.scoring import coco_keypoint_metrics
from poseforge.validate.speed import measure_speed, summarize_ms

SCHEMA = "poseforge.report/1"


def coco_ap(
    runner: Runner,
    dataset: CocoKeypoints,
    images: list[CocoImage],
    protocol: str = "val",
    params: DecoderParams | None = None,
) -> dict[str, Any]:
    """COCO keypoint metrics of `runner` on `images`: the AP function quantization uses too."""
    deploy_shape = tuple(runner.metadata["input"]["deploy_shape"])
    loop = run_loop(runner, images, protocol, deploy_shape, params)
    return coco_keypoint_metrics(dataset.coco, loop.results, loop.image_ids)


def artifact_files(path: str | Path) -> list[Path]:
    """The files an artifact consists of (an IR is its .xml and .bin)."""
    path = Path(path)
    return [path, path.with_suffix(".bin")] if path.suffix == ".xml" else [path]


def report_paths(report: str | Path) -> tuple[Path, Path]:
    """(report, results) paths: results go to `results/` beside the report."""
    report = Path(report)
    return report, report.parent / "results" / report.name


def validate_artifact(
    artifact: str | Path,
    coco_dir: str | Path,
    protocol: str,
    output: str | Path | None = None,
    limit: int | None = None,
    skip_bad_images: bool = False,
    precision_hint: str | None = "f32",
    threads: int | None = None,
    speed: dict[str, Any] | None = None,
    measure: bool = True,
    speed_seconds: float = 10.0,
    params: DecoderParams | None = None,
) -> dict[str, Any]:
    """Run `artifact` over the COCO images under `protocol`; score; add speed; write the report.

    `speed` is a speed block measured before (`poseforge speed`); otherwise it is measured
    here unless `measure` is False.
    """
    if protocol not in PROTOCOLS:
        raise PoseforgeError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    params = params or DecoderParams()
    dataset = CocoKeypoints(coco_dir)
    images = dataset.images(limit)
    if not images:
        raise PoseforgeError(f"{dataset.annotations} lists no images")
    probe = open_runner(artifact, precision_hint, threads, "THROUGHPUT")
    deploy_shape = tuple(probe.metadata["input"]["deploy_shape"])
    runner = probe if protocol == "val" else probe.fixed((1, 3, *deploy_shape))
    name = runner.artifact

    with progress() as bar:
        task = bar.add_task(f"{name} {protocol}", total=len(images))
        loop = run_loop(runner, images, protocol, deploy_shape, params, skip_bad_images, (bar, task))
    metrics = coco_keypoint_metrics(dataset.coco, loop.results, loop.image_ids)
    runtime, meta = dict(runner.settings), runner.metadata
    del probe, runner  # release the runtime's threads before measuring speed

    if speed is None and measure:
        speed = measure_speed(artifact, images, deploy_shape, precision_hint, threads, seconds=speed_seconds)
    decode = summarize_ms(loop.decode_ms) if loop.decode_ms else {"median": float("nan"), "p90": float("nan")}
    report = {
        "schema": SCHEMA,
        "artifact": name,
        "model": meta.get("model"),
        "protocol": protocol,
        "images": len(loop.image_ids),
        "skipped_images": loop.skipped,
        **{k: v for k, v in metrics.items() if k != "summary"},
        "latency_ms": _pick(speed, "latency_ms", ("median", "p90")),
        "throughput_fps": speed["throughput_fps"] if speed else None,
        "decode_ms": decode["median"],
        "decode_ms_p90": decode["p90"],
        "e2e_fps": speed["e2e_fps"] if speed else None,
        "threads": runtime.get("threads"),
        "precision_hint": runtime.get("precision_hint"),
        "machine": machine_info(),
        "versions": toolchain_versions(),
        "runtime": runtime,
        "speed": speed,
        "validation_fps": loop.fps,
        "artifact_file": str(artifact),
        "artifact_sha256": sha256_file(artifact),
        "size_mb": sum(p.stat().st_size for p in artifact_files(artifact)) / 1e6,
        "precision": meta.get("precision"),
        "dataset": {
            "annotations": str(dataset.annotations),
            "annotations_sha256": sha256_file(dataset.annotations),
            "images_listed": len(images),
        },
        "decoder": dataclasses.asdict(params),
        "coco_summary": metrics["summary"],
        "notes": list(meta.get("notes", [])),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if output is None:
        output = Path("build") / str(report["model"]) / "reports" / f"{name}-{protocol}.json"
    report_path, results_path = report_paths(output)
    report["results_file"] = str(results_path)
    write_json(results_path, loop.results)
    write_json(report_path, report)
    return report


def _pick(block: dict[str, Any] | None, key: str, fields: tuple[str, ...]) -> dict[str, float] | None:
    return {f: block[key][f] for f in fields} if block else None


def read_report(path: str | Path) -> dict[str, Any]:
    return read_json(path, SCHEMA, "report")
