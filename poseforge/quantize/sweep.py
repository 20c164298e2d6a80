"""`poseforge sweep SETTINGS.toml -o OUT`: many INT8 settings, each quantized, validated and timed.

1. The FP32 IR is validated once (OUT/fp32/), the reference every row's paired interval is against.
2. Each row (sweep_settings: a grid or a list) is quantized from the FP32 IR (OUT/rows/<key>/),
   validated under the sweep's protocol, compared with FP32 on the same image resamples, and its
   throughput measured with FP32's in the same process, in interleaved rounds (a ratio within each
   round, its median over rounds: load that comes and goes moves both sides of a round alike).
3. A row is cached by the sha256 of its settings and inputs (the FP32 IR's digest, the calibration
   folder's images, the validation set, the versions of poseforge and the tools it runs): its
   row.json is written when it is complete, so an interrupted sweep resumes where it stopped and a
   finished row is never redone (its figures that its report's results give are scored again).
4. OUT/sweep.md and sweep.json (the table) and sweep.png (AP with its interval against fps).

Rows run wherever `dispatch` sends them: in this process, or as Ray tasks (`--ray`), each holding
a whole node so that its speed is measured on cores nobody else uses.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poseforge.artifacts import REFERENCE, artifact_digest
from poseforge.decode import DecoderParams
from poseforge.documents import REPORT as REPORT_DOCUMENT
from poseforge.documents import SWEEP, SWEEP_ROW, read_document, write_document
from poseforge.errors import PoseforgeError
from poseforge.fileio import claim, json_text
from poseforge.images import files_sha256, image_files
from poseforge.machine import machine_info
from poseforge.metadata import toolchain_versions
from poseforge.quantize.sweep_settings import Row, Sweep
from poseforge.validate.speed.interleaved import rounds_problem

if TYPE_CHECKING:
    from poseforge.validate.accuracy.agreement_reports import ReportScorer

ROWS = "rows"
ROW_FILE = "row.json"
REPORT = "report.json"
ITERATIONS = 10  # latency iterations of each speed measurement
ROUNDS = 3  # speed rounds of each row (validate.speed.interleaved: the range then holds the median 75% of the time)
SPEED_RUNS = ("ir-int8", REFERENCE)
# Runs fn on every job somewhere; on_done(index, result) as each finishes (so a finished row is kept
# even if the sweep is interrupted later); the results in job order.
Dispatch = Callable[[Callable[[Any], Any], list[Any], Callable[[int, Any], None]], list[Any]]


def in_process(fn: Callable[[Any], Any], jobs: list[Any], on_done: Callable[[int, Any], None]) -> list[Any]:
    results = []
    for i, job in enumerate(jobs):
        results.append(fn(job))
        on_done(i, results[-1])
    return results


@dataclass(frozen=True)
class RowJob:
    key: str
    row: Row
    fp32: str
    coco: str
    protocol: str
    limit: int | None
    seconds: float
    folder: str  # OUT/rows/<key>
    reference: str  # the FP32 report the paired interval is against


def inputs_digest(sweep: Sweep) -> dict[str, Any]:
    """What every row's results depend on beside its own settings."""
    from poseforge.validate.accuracy.dataset import CocoKeypoints

    dataset = CocoKeypoints(sweep.coco)
    provenance = dataset.provenance([i.id for i in dataset.images(sweep.limit)], sweep.limit)
    return {
        "fp32": artifact_digest(sweep.fp32),
        # the set by its digests, not by where it lies
        "validation": {k: provenance[k] for k in ("annotations_sha256", "image_ids_sha256", "limit")},
        "protocol": sweep.protocol,
        "decoder": dataclasses.asdict(DecoderParams()),
        "versions": toolchain_versions(),  # poseforge's, and those of the tools that touch a row (nncf, openvino)
    }


def folder_digest(folder: Path, cache: dict[Path, str]) -> str:
    """sha256 of a calibration folder: every image's name and content."""
    if folder not in cache:
        if not folder.is_dir():
            raise PoseforgeError(f"calibration folder not found: {folder}")
        cache[folder] = files_sha256(image_files(folder))
    return cache[folder]


def row_key(row: Row, inputs: dict[str, Any], calib_sha256: str) -> str:
    settings = dataclasses.asdict(row.settings)
    text = json.dumps({"settings": settings, "calib": calib_sha256, "allow_overlap": row.allow_overlap, **inputs},
                      sort_keys=True)  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()


def check_distinct(sweep: Sweep, keys: list[str]) -> None:
    """Refuse two rows of one key: they would share a folder, and each show the other's results."""
    named: dict[str, str] = {}
    for row, key in zip(sweep.rows, keys, strict=True):
        if key in named:
            raise PoseforgeError(f"{sweep.source}: rows {named[key]!r} and {row.name!r} are the same settings on the "
                                 "same calibration images, so one result: remove one")  # fmt: skip
        named[key] = row.name


def run_row(job: RowJob) -> dict[str, Any]:
    """Quantize, validate (paired with FP32) and time one row where this process runs; a failure is
    the row's one-line error, not the sweep's."""
    start = time.perf_counter()
    try:
        return {**measure_row(job), "seconds_taken": round(time.perf_counter() - start, 1)}
    except PoseforgeError as exc:
        return {"key": job.key, "name": job.row.name, "error": str(exc)}


def measure_row(job: RowJob) -> dict[str, Any]:
    from poseforge.quantize.ptq import quantize_ir
    from poseforge.validate.accuracy.validate import validate_artifact
    from poseforge.validate.speed.tiers import measure_round, summarize_rounds

    folder = Path(job.folder)
    int8 = folder / "model.xml"
    record = quantize_ir(job.fp32, int8, job.row.calib, job.row.settings, job.coco, allow_overlap=job.row.allow_overlap)
    report = validate_artifact(int8, job.coco, job.protocol, folder / REPORT, measure=False, limit=job.limit,
                               reference=job.reference)  # fmt: skip
    shape = [1, 3, *report_shape(int8)]
    runs = {"ir-int8": (str(int8), "f32"), REFERENCE: (job.fp32, "f32")}
    rounds = [measure_round(runs, shape, ITERATIONS, job.seconds, number) for number in range(1, ROUNDS + 1)]
    speed = summarize_rounds({name: [measured[name] for measured in rounds] for name in runs})
    calibration = record["calibration"]
    return {
        "key": job.key,
        "name": job.row.name,
        "settings": dataclasses.asdict(job.row.settings),
        "chosen_on": {
            "folder": calibration["folder"],
            "name": "/".join(Path(calibration["folder"]).parts[-2:]),
            "images": calibration["images"],
            "sha256": calibration["sha256"],
            "overlaps_validation": "overlaps_validation" in calibration,
        },
        **scored(report, job.reference, folder / REPORT, job.protocol),
        "throughput_fps": speed["ir-int8"]["throughput_fps"],
        "fp32_throughput_fps": speed[REFERENCE]["throughput_fps"],
        "over_fp32": speed["ir-int8"]["throughput_over_fp32"],
        "throughput_fps_by_round": {name: speed[name]["throughput_fps_by_round"] for name in SPEED_RUNS},
        "latency_ms": speed["ir-int8"]["latency_ms"]["median"],
        "heatmap_peak_retention": record["heatmap_peak_retention"],
        "float_layers": len(record["float_layers"]),
        "machine": machine_info(),
        "host": platform.node(),
        "ir": str(int8),
        "report": str(folder / REPORT),
    }


def scored(report: dict[str, Any], reference: str | Path, path: Path, protocol: str) -> dict[str, Any]:
    """A row's figures from its report (`report`, read from `path`): the set it was scored on, AP with its
    interval, the agreement with FP32, and the paired difference to FP32 from both results files."""
    from poseforge.validate.accuracy.compare import compare_reports

    agreed = report["agreement"]
    paired = compare_reports(reference, path)["b_minus_a"]
    return {
        "scored_on": {"name": report["dataset"]["name"], "people": report["dataset"]["people"],
                      "images": report["images"], "protocol": protocol},
        "ap": report["ap"],
        "interval": report["interval"],
        "difference": {k: paired[k] for k in ("ap", "low", "high")},
        "agreement": agreed and {"ap": agreed["ap"], "low": agreed["interval"]["low"],
                                 "high": agreed["interval"]["high"], "people": agreed["people"]},
    }  # fmt: skip


def rescored_row(row: dict[str, Any], name: str, folder: Path, reference: Path, protocol: str,
                 scorer: ReportScorer) -> dict[str, Any]:  # fmt: skip
    """A cached row named as the settings file names it now, every figure its report's results give taken
    from them again, not from its row.json: the report refused where its own figures are not what they
    give (compare.rederived, agreement_reports.rescored). Its speed is a measurement, kept. `scorer` is
    the sweep's: the reference is read and matched once for all its rows."""
    from poseforge.validate.accuracy.agreement_reports import rescored
    from poseforge.validate.accuracy.compare import rederived
    from poseforge.validate.accuracy.validate import read_report

    path = folder / REPORT
    report = read_report(path)
    rederived(path, report, scorer.datasets)
    if report["agreement"]:
        rescored(scorer, path, report, reference)
    return {**row, **scored(report, reference, path, protocol), "name": name, "report": str(path)}


def report_shape(ir: Path) -> list[int]:
    from poseforge.runtime import artifact_metadata

    return list(artifact_metadata(ir)["input"]["deploy_shape"])


def reference_report(sweep: Sweep, out: Path, inputs: dict[str, Any]) -> Path:
    """The FP32 IR validated once per FP32 IR and validation set (kept under OUT/fp32/<key>)."""
    from poseforge.validate.accuracy.compare import rederived
    from poseforge.validate.accuracy.validate import validate_artifact

    key = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
    path = out / "fp32" / key[:16] / REPORT
    # The sweep's own earlier output, looked at (not read_report: not an input, it may be replaced).
    if path.is_file() and (report := read_document(path, REPORT_DOCUMENT))["artifact_sha256"] == inputs["fp32"]:
        rederived(path, report)  # the table's FP32 AP and interval: what its results give
        return path
    validate_artifact(sweep.fp32, sweep.coco, sweep.protocol, path, measure=False, limit=sweep.limit)
    return path


def cached_row(path: Path, key: str) -> dict[str, Any] | None:
    """A finished row's record, if `path` holds the one with this key (refused where its speed
    figures are not what its rounds give)."""
    if not path.is_file():
        return None
    row = read_document(path, SWEEP_ROW)["row"]
    if row["key"] != key:
        return None
    if problem := speed_problem(row):
        raise PoseforgeError(f"{path} says {problem}: an edited row; remove {path.parent} to measure it again")
    return row


def speed_problem(row: dict[str, Any]) -> str | None:
    """Why a row's throughput figures are not the medians of its rounds and of their per-round
    ratio (interleaved.rounds_problem), or None (also for a row cached before rounds were kept)."""
    by_round = row.get("throughput_fps_by_round")
    if by_round is None:
        return None
    if sorted(by_round) != sorted(SPEED_RUNS):
        return f"rounds of {', '.join(sorted(by_round))} where a row measures {' and '.join(SPEED_RUNS)}"
    speed = {
        "ir-int8": {"throughput_fps": row["throughput_fps"], "throughput_fps_by_round": by_round["ir-int8"],
                    "throughput_over_fp32": row["over_fp32"]},
        REFERENCE: {"throughput_fps": row["fp32_throughput_fps"], "throughput_fps_by_round": by_round[REFERENCE]},
    }  # fmt: skip
    return rounds_problem(speed, {}, len(by_round[REFERENCE]))


def run_sweep(sweep: Sweep, out: str | Path, dispatch: Dispatch = in_process, say: Any = print,
              scheduler: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """Every row of `sweep`, the finished ones from the cache; the table, JSON and plot in `out`."""
    from poseforge.quantize.sweep_table import write_outputs
    from poseforge.validate.accuracy.agreement_reports import ReportScorer
    from poseforge.validate.accuracy.validate import read_report

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise PoseforgeError(f"{out} is not a folder: the sweep writes its table, plot and rows there")
    for rel in ("sweep.md", "sweep.json", "sweep.png"):
        claim(out / rel)  # refused now, not after hours of rows
    inputs = inputs_digest(sweep)
    digests: dict[Path, str] = {}
    keys = [row_key(row, inputs, folder_digest(row.calib, digests)) for row in sweep.rows]
    check_distinct(sweep, keys)
    reference = reference_report(sweep, out, inputs)
    fp32_report = read_report(reference)
    rows: list[dict[str, Any] | None] = []
    jobs, places = [], []
    scorer = ReportScorer()
    for row, key in zip(sweep.rows, keys, strict=True):
        folder = out / ROWS / key[:16]
        done = cached_row(folder / ROW_FILE, key)
        if done is not None:
            rows.append(rescored_row(done, row.name, folder, reference, sweep.protocol, scorer))
            say(f"{row.name}: cached ({folder})")
            continue
        rows.append(None)
        jobs.append(RowJob(key, row, str(sweep.fp32), str(sweep.coco), sweep.protocol, sweep.limit, sweep.seconds,
                           str(folder), str(reference)))  # fmt: skip
        places.append(len(rows) - 1)

    def finished(index: int, result: dict[str, Any]) -> None:
        result = json.loads(json_text(result))  # as its row.json will read back (lists, not tuples)
        rows[places[index]] = result
        if "error" in result:
            say(f"{result['name']}: failed: {result['error']}")
            return
        write_document(Path(jobs[index].folder) / ROW_FILE, SWEEP_ROW, {"schema": SWEEP_ROW.schema, "row": result})
        say(f"{result['name']}: AP {result['ap']:.4f} ({result['difference']['ap']:+.4f} vs FP32), "
            f"{result['throughput_fps']:.1f} fps")  # fmt: skip

    if jobs:
        say(f"{len(jobs)} of {len(rows)} rows to run, {len(rows) - len(jobs)} cached")
        dispatch(run_row, jobs, finished)
    table = {
        "schema": SWEEP.schema,
        "settings_file": str(sweep.source),
        "fp32": {
            "ir": str(sweep.fp32),
            "sha256": inputs["fp32"],
            "ap": fp32_report["ap"],
            "interval": fp32_report["interval"],
            "report": str(reference),
        },
        "scored_on": {**fp32_report["dataset"], "protocol": sweep.protocol},
        "scheduler": scheduler or {"scheduler": "this process"},
        "rows": [r for r in rows if r is not None],
    }
    write_outputs(out, table)
    return table
