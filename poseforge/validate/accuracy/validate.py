"""Validate one artifact under one protocol: COCO keypoint AP and speed, written as a report.

The report (`reports/<artifact>-<protocol>.json`) and the pycocotools results file
(`reports/results/<artifact>-<protocol>.json`) are written atomically. The native protocol at
another input height than the deploy height is a run of its own: its report records
`input_height` and is named by its protocol key (`ir-fp32-native@320.json`, artifacts.protocol_key).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poseforge.artifacts import (
    PROTOCOLS,
    REFERENCE,
    artifact_digest,
    artifact_size_mb,
    check_height,
    protocol_key,
    report_key,
    run_name,
)
from poseforge.decode import DecoderParams
from poseforge.documents import (
    MAX_REPORT_RESAMPLES,
    REPORT,
    RESULTS,
    check_document,
    loads,
    read_bytes,
    read_document,
)
from poseforge.errors import PoseforgeError
from poseforge.fileio import atomic_outputs, claim, json_text, reading
from poseforge.images import shared_images
from poseforge.metadata import calibration_files, toolchain_versions
from poseforge.runtime import Runner, artifact_kind, artifact_metadata
from poseforge.runtime.options import ACCURACY, RuntimeOptions
from poseforge.text import first_few, plural
from poseforge.ui import progress
from poseforge.validate.accuracy.agreement import agreement_field, reference_problem
from poseforge.validate.accuracy.dataset import CocoImage, CocoKeypoints
from poseforge.validate.accuracy.intervals import bootstrap_ap, check_resamples, matches_from_eval
from poseforge.validate.accuracy.loop import LoopResult, run_loop
from poseforge.validate.accuracy.scoring import coco_keypoint_metrics, evaluate_keypoints, keypoint_metrics
from poseforge.validate.accuracy.shards import (
    Shard,
    Sharding,
    ShardJob,
    calibration_text,
    job_height,
    merge,
    open_validation_runner,
    run_shard,
    split,
    workers_of,
)
from poseforge.validate.speed.network import measure_speed, summarize_ms

SCHEMA = REPORT.schema
RESAMPLES = 1000  # bootstrap resamples of every report's AP interval
SEED = 0
NEVER_QUANTIZED = ("torch", "onnx")  # artifact kinds poseforge never quantizes: no calibration to check


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


def report_paths(report: str | Path) -> tuple[Path, Path]:
    """(report, results) paths: results go to `results/` beside the report."""
    report = Path(report)
    return report, report.parent / "results" / report.name


@dataclass
class AccuracyRun:
    """What one validation run measured, before it becomes a report."""

    artifact: str  # the artifact's name (ir-fp32, ...)
    metadata: dict[str, Any]
    runtime: dict[str, Any]  # the runner's settings
    deploy_shape: tuple[int, int]
    loop: LoopResult
    metrics: dict[str, Any]
    interval: dict[str, Any] | None
    machine: dict[str, Any]  # where the network ran (the workers' class, when sharded)
    cluster: dict[str, Any] | None = None  # how it was sharded: scheduler, address, shards, workers, nodes
    input_height: int | None = None  # the native protocol's
    calibrated: list[str] = dataclasses.field(default_factory=list)  # scored images it was calibrated on


def measure_accuracy(
    artifact: str | Path,
    dataset: CocoKeypoints,
    images: list[CocoImage],
    protocol: str,
    options: RuntimeOptions,
    params: DecoderParams,
    skip_bad: bool,
    resamples: int,
    sharding: Sharding | None = None,
    input_height: int | None = None,
    allow_overlap: bool = False,
) -> AccuracyRun:
    """Run `artifact` over `images` under `protocol` (the deploy protocol at a static shape; native at
    `input_height`, by default the deploy height) and score it: in this process as one shard, or in
    `sharding.shards` shards wherever it dispatches them. The metadata of the network that runs is
    checked (calibrated_on) before its first image."""
    job = ShardJob(str(artifact), protocol, options, params, skip_bad, input_height=input_height)
    cluster = None
    if sharding is None:
        runner = open_validation_runner(job)
        calibrated = calibrated_on(artifact, runner.metadata, dataset, images, allow_overlap)
        with progress() as bar:
            height = job_height(job, runner)
            name = f"{run_name(runner.artifact, options.precision_hint)} {protocol_key(protocol, height)}"
            task = bar.add_task(name, total=len(images))
            run = merge([run_shard(job, Shard(0, tuple(images)), runner, (bar, task))], 1)
    else:
        # The workers open the artifact: checked here on the files they must see, and each worker
        # refuses a network whose calibration record is not the one checked (replaced meanwhile).
        checked = artifact_kind(artifact) not in NEVER_QUANTIZED
        meta = artifact_metadata(artifact) if checked else {}
        calibrated = calibrated_on(artifact, meta, dataset, images, allow_overlap)
        # Several workers share a node: OpenVINO would pin each one's threads to the same first cores.
        job = dataclasses.replace(job, options=options.replace(pin_threads=False),
                                  artifact_sha256=artifact_digest(artifact),
                                  calibration=calibration_text(meta) if checked else None)  # fmt: skip
        shards = split(images, sharding.shards)
        start = time.perf_counter()
        outputs = sharding.dispatch(functools.partial(run_shard, job), shards)
        dispatched = time.perf_counter()
        run = merge(outputs, len(shards), dispatched - start)
        cluster = {**sharding.record, "shards": len(shards), **workers_of(outputs),
                   "images_per_shard": [len(s.images) for s in shards],
                   "seconds": {"shards": dispatched - start, "merge": time.perf_counter() - dispatched}}  # fmt: skip
    start = time.perf_counter()
    evaluator = evaluate_keypoints(dataset.coco, run.loop.results, run.loop.image_ids)
    interval = ap_interval(matches_from_eval(evaluator), resamples)
    metrics = keypoint_metrics(evaluator)
    if cluster is not None:  # what stays serial however many workers: merging and scoring
        cluster["seconds"]["scoring"] = time.perf_counter() - start
    height = (input_height or run.deploy_shape[0]) if protocol == "native" else None
    return AccuracyRun(run.artifact, run.metadata, run.runtime, run.deploy_shape, run.loop, metrics, interval,
                       run.machine, cluster, height, calibrated)  # fmt: skip


def validate_artifact(
    artifact: str | Path,
    coco_dir: str | Path,
    protocol: str,
    output: str | Path | None = None,
    *,
    options: RuntimeOptions = ACCURACY,
    limit: int | None = None,
    skip_bad: bool = False,
    speed: dict[str, Any] | None = None,
    measure: bool = True,
    speed_seconds: float = 10.0,
    params: DecoderParams | None = None,
    resamples: int = RESAMPLES,
    reference: str | Path | None = None,
    sharding: Sharding | None = None,
    input_height: int | None = None,
    allow_overlap: bool = False,
) -> dict[str, Any]:
    """Run `artifact` over the COCO images under `protocol`; score, with a bootstrap interval of
    AP over `resamples` image resamples; add speed and the agreement with the FP32 IR; write the
    report and its results. An artifact calibrated on some of these images is refused unless
    `allow_overlap` (or its quantization allowed this set), and the report's notes say so.

    `speed` is a speed block measured before (`poseforge speed`); otherwise it is measured
    here unless `measure` is False. The agreement is scored against `reference` (the FP32 IR's
    report under the same protocol and input height, on the same images), by default the FP32 IR's
    report of that protocol beside the report when there is one. `sharding` spreads the images over
    workers (the results are the same bytes); the report records how. `input_height` is the native
    protocol's (default: the deploy height, DEFAULT_HEIGHT); the speed block is the deploy shape's
    whatever the height.
    """
    if protocol not in PROTOCOLS:
        raise PoseforgeError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    if not 1 <= resamples <= MAX_REPORT_RESAMPLES:  # every reader of the report draws its interval again
        raise PoseforgeError(f"{resamples} resamples: a report's interval has 1 to {MAX_REPORT_RESAMPLES}")
    if input_height is not None:
        if protocol != "native":
            raise PoseforgeError(f"an input height is the native protocol's: {protocol} runs at a height of its own")
        check_height(input_height)
    params = params or DecoderParams()
    dataset = CocoKeypoints(coco_dir)
    images = dataset.images(limit)
    if not images:
        raise PoseforgeError(f"{dataset.annotations} lists no images")
    if output is None and len(images) < len(dataset.coco.imgs):
        raise PoseforgeError(
            f"--limit {limit} validates {len(images)} of {len(dataset.coco.imgs)} images: a partial report "
            "needs its own -o, so that it never takes the place of a full one"
        )
    check_resamples(len(images), resamples)  # refused now, not after the run
    for target in report_paths(output) if output else ():
        claim(target)  # refused now, not after the run
    if reference is not None:  # a reference that cannot be one is refused now, not after the run
        given, key = read_report(reference), protocol_key(protocol, input_height)
        if run_name(given["artifact"], given["precision_hint"]) != REFERENCE or report_key(given) != key:
            raise PoseforgeError(f"{reference} is the {report_key(given)} report of "
                                 f"{run_name(given['artifact'], given['precision_hint'])}, not the {key} report "
                                 f"of {REFERENCE} to score the agreement against")  # fmt: skip
    run = measure_accuracy(artifact, dataset, images, protocol, options, params, skip_bad, resamples, sharding,
                           input_height, allow_overlap)  # fmt: skip
    if speed is None and measure:  # after the accuracy run has released its runtime's threads
        speed = measure_speed(artifact, images, run.deploy_shape, options, seconds=speed_seconds)
    report = build_report(run, artifact, dataset, protocol, limit, params, speed)
    if run.calibrated:
        report["notes"].append(f"calibrated on {plural(len(run.calibrated), 'image')} of the {len(images)} scored "
                               f"({first_few(run.calibrated)}): the AP here is optimistic")  # fmt: skip
    path = Path(output or default_report_path(report))
    report["agreement"] = score_agreement(report, run.loop.results, run.loop.image_ids, path, reference, resamples)
    write_report_pair(path, report, run.loop.results)
    return report


def calibrated_on(
    artifact: str | Path, meta: dict[str, Any], dataset: CocoKeypoints, images: list[CocoImage], allow: bool
) -> list[str]:  # fmt: skip
    """The names of the images to score that `artifact` was calibrated on (the calibration files of
    `meta`, the metadata of the network that runs, by name or content: images.shared_images); refused
    unless `allow`, or its quantization was allowed to overlap this very set (quantize --allow-overlap
    records it)."""
    if artifact_kind(artifact) in NEVER_QUANTIZED:
        return []
    shared = shared_images([image.path for image in images], calibration_files(meta))
    names = sorted(path.name for path in shared)
    allowed = meta["quantization"]["calibration"].get("overlaps_validation") if names else None
    if names and not allow and allowed != str(dataset.root.resolve()):
        raise PoseforgeError(
            f"{artifact} was calibrated on {plural(len(names), 'image')} of the {len(images)} it would be scored on "
            f"({first_few(names)}): its AP there would be optimistic; "
            "score it on images it was not calibrated on (--allow-overlap to score it anyway, noted in the report)"
        )
    return names


def score_agreement(
    report: dict[str, Any], results: list[dict], image_ids: list[int], path: Path, reference: str | Path | None,
    resamples: int,
) -> dict[str, Any] | None:  # fmt: skip
    """The report's agreement with the FP32 IR (validate.accuracy.agreement), scored against the
    reference report's results; None for the reference itself, and where there is no comparable
    reference: none given and none beside the report, or one beside it of other images or another
    protocol (or input height). A reference that was given and does not fit is refused."""
    if run_name(report["artifact"], report["precision_hint"]) == REFERENCE:
        return None
    given = reference is not None
    reference = Path(reference) if given else path.parent / f"{REFERENCE}-{report_key(report)}.json"
    if not reference.is_file() and not given:
        return None
    if reference.resolve() == path.resolve():
        raise PoseforgeError(f"{reference} is the report being written: it cannot be its own reference")
    scored_against = read_report(reference)
    if problem := reference_problem(report, scored_against):
        if given:
            raise PoseforgeError(f"{reference} cannot be the reference of {report['artifact']}: {problem}")
        return None
    reference_results = read_results(scored_against, reference)
    return agreement_field(results, image_ids, scored_against, reference_results, reference, resamples, SEED)


def build_report(
    run: AccuracyRun,
    artifact: str | Path,
    dataset: CocoKeypoints,
    protocol: str,
    limit: int | None,
    params: DecoderParams,
    speed: dict[str, Any] | None,
) -> dict[str, Any]:
    """The report (documents.REPORT) of a run: what was measured, on what, with what."""
    loop, meta, runtime = run.loop, run.metadata, run.runtime
    decode = summarize_ms(loop.decode_ms) if loop.decode_ms else {"median": None, "p90": None}
    source = meta.get("source") or {}
    return {
        "schema": SCHEMA,
        "artifact": run.artifact,
        "model": meta.get("model"),
        "protocol": protocol,
        "input_height": run.input_height,  # the native protocol's; None for val and deploy
        "images": len(loop.image_ids),
        # Fewer images than the set holds (--limit, skipped bad images): refused by report,
        # baseline, bundle and gate unless they are told it is wanted.
        "subset": len(loop.image_ids) < len(dataset.coco.imgs),
        "skipped_images": loop.skipped,
        **{k: v for k, v in run.metrics.items() if k != "summary"},
        "interval": run.interval,
        "latency_ms": {f: speed["latency_ms"][f] for f in ("median", "p90")} if speed else None,
        "throughput_fps": speed["throughput_fps"] if speed else None,
        "decode_ms": decode["median"],
        "decode_ms_p90": decode["p90"],
        "e2e_fps": speed["e2e_fps"] if speed else None,
        "threads": runtime.get("threads"),
        "precision_hint": runtime.get("precision_hint"),
        "machine": run.machine,
        "versions": toolchain_versions(),
        "runtime": runtime,
        "speed": speed,
        "validation_fps": loop.fps,
        "artifact_file": str(artifact),
        "artifact_sha256": artifact_digest(artifact),
        "size_mb": artifact_size_mb(artifact),
        "precision": meta.get("precision"),
        "dataset": dataset.provenance(loop.image_ids, limit),
        "decoder": dataclasses.asdict(params),
        "coco_summary": run.metrics["summary"],
        "notes": list(meta.get("notes", [])),
        "provenance": {
            "calibration": (meta.get("quantization") or {}).get("calibration"),
            "weights_sha256": source.get("sha256"),
            "trained": source.get("trained", True),
        },
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **({"cluster": run.cluster} if run.cluster else {}),
    }


def ap_interval(matches: Any, resamples: int) -> dict[str, Any] | None:
    """The 95% bootstrap interval of AP, or None where the images hold no annotated person."""
    if matches.people == 0:
        return None
    return bootstrap_ap(matches, resamples, SEED).to_dict()


def default_report_path(report: dict[str, Any]) -> Path:
    """Where make keeps a full report: build/<model>/reports/<run>-<protocol key>.json (the run: the
    artifact, and its precision hint when not f32)."""
    name = run_name(str(report.get("artifact")), report.get("precision_hint"))
    return Path("build") / str(report.get("model")) / "reports" / f"{name}-{report_key(report)}.json"


def write_report_pair(output: str | Path, report: dict[str, Any], results: list[dict]) -> tuple[Path, Path]:
    """The report and its pycocotools results as one unit: both written, then renamed results
    first, report last; the report names its results file and its sha256."""
    report_path, results_path = report_paths(output)
    results_text = json_text(results)
    report["results_file"] = str(results_path)
    report["results_sha256"] = hashlib.sha256(results_text.encode()).hexdigest()
    report_text = json_text(report)
    check_document(json.loads(report_text), REPORT, report_path)  # never write what a reader refuses
    with atomic_outputs(results_path, report_path) as (results_tmp, report_tmp):
        results_tmp.write_text(results_text)
        report_tmp.write_text(report_text)
    return report_path, results_path


def read_report(path: str | Path) -> dict[str, Any]:
    """A report the command reads: an input (fileio.reading), which none of its outputs may replace."""
    return read_document(reading(path, f"report {path}"), REPORT)


def read_results(report: dict[str, Any], report_path: str | Path) -> list[dict]:
    """The pycocotools results a report names, refused unless they are the ones it was made with."""
    results_path = Path(report["results_file"])
    if not results_path.is_absolute() and not results_path.is_file():  # reports moved with their folder
        results_path = report_paths(report_path)[1]
    if not results_path.is_file():
        raise PoseforgeError(f"{report_path} names results {results_path}, which do not exist")
    reading(results_path, f"the results {report_path} names")
    raw = read_bytes(results_path, RESULTS.what, RESULTS.max_bytes)  # its size checked before it is hashed
    if hashlib.sha256(raw).hexdigest() != report["results_sha256"]:
        raise PoseforgeError(f"{results_path} is not the results {report_path} was made with (sha256 differs)")
    return check_document(loads(raw, RESULTS.what, results_path), RESULTS, results_path)
