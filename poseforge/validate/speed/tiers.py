"""`poseforge bench --tiers`: every IR under each ISA tier this CPU can stand in for, in one run.

Speed and the numerics of INT8 (and bf16) kernels follow the ISA tier the kernels use, so one
machine can say what a lower tier would see by capping oneDNN's kernels (ONEDNN_MAX_CPU_ISA,
read when the library loads: each tier runs in its own process, `machine.tier_environment`).
OpenVINO's own JIT kernels keep the full ISA, so an emulated tier stands in for a machine of that
tier without being one; every figure says which it is.

1. Rounds interleave the tiers: round r starts one process per tier, each measuring every IR once
   (latency, throughput), so a load that comes and goes touches every tier alike; each ratio is
   taken within a round, then the median.
2. Each tier's process then validates the runs whose AP follows the kernels (INT8, bf16) and the
   FP32 reference on the COCO set (val protocol), writing real reports under tiers/<tier>/.
3. The paired differences our INT8 - Intel's INT8 and our INT8 - FP32 (the same image resamples)
   say whether a tier costs accuracy the set can resolve.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from poseforge.artifacts import (
    BY_NAME,
    REFERENCE,
    VARIANT_HINTS,
    artifact_digest,
    base_name,
    deployable,
    machine_dependent,
    runs,
)
from poseforge.documents import TIERS, Document, read_document, write_document
from poseforge.errors import PoseforgeError
from poseforge.fileio import claim, reading
from poseforge.machine import BY_TIER, machine_info, standin_tiers, tier_environment
from poseforge.metadata import toolchain_versions
from poseforge.validate.speed.host import round_order
from poseforge.validate.speed.interleaved import (
    THROUGHPUT_PAIRS,
    medians,
    per_round,
    ratio_line,
    ratios_by_round,
    rounds_problem,
)

TIERS_FILE = "bench-tiers.json"
IR_RUNTIME = "openvino"  # the tiers are OpenVINO's kernels: torch and onnxruntime are not measured
CHILD_TIMEOUT = 3600.0  # seconds: one tier's round or validation, far above what either takes
PAIRS = (("ir-int8", "omz-int8"), ("ir-int8", REFERENCE), ("omz-int8", REFERENCE))


def tier_runs(model_dir: Path, model: str, tier: str) -> dict[str, tuple[Path, str]]:
    """run name -> (IR, precision hint): every IR in `model_dir`, the variants where `tier` runs them natively."""
    hints = tuple(hint for hint in VARIANT_HINTS if hint == "bf16" and tier in BY_TIER and BY_TIER[tier].bf16)
    return {
        name: (model_dir / known.file, hint)
        for name, known, hint in runs(model, hints)
        if known.runtime == IR_RUNTIME and (model_dir / known.file).is_file()
    }


def _child(tier: str, job: dict[str, Any]) -> dict[str, Any]:
    """Run `job` (see `child_main`) in a fresh process standing in for `tier`; its JSON result."""
    with tempfile.TemporaryDirectory(prefix="poseforge-tier-") as folder:
        result_path = Path(folder) / "result.json"
        code = "from poseforge.validate.speed.tiers import child_main; child_main()"
        try:
            done = subprocess.run(
                [sys.executable, "-c", code], input=json.dumps({**job, "result": str(result_path)}), text=True,
                capture_output=True, env=tier_environment(tier), timeout=CHILD_TIMEOUT,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise PoseforgeError(f"the {tier} process did not finish in {CHILD_TIMEOUT:.0f} s") from None
        if done.returncode != 0 or not result_path.is_file():
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise PoseforgeError(f"the {tier} process failed: {last[:300]}")
        return json.loads(result_path.read_text())


def measure_round(
    runs: dict[str, Any], shape: list[int], iterations: int, seconds: float, number: int = 1
) -> dict[str, Any]:
    """Round `number` on this machine (or the tier this process stands in for): every run's latency
    and throughput, back to back in round_order. `runs`: name -> (IR path, precision hint)."""
    from poseforge.runtime.options import ACCURACY
    from poseforge.validate.speed.network import network_speed

    speed = {}
    for name in round_order(list(runs), number):
        path, hint = runs[name]
        run = network_speed(path, tuple(shape), ACCURACY.replace(precision_hint=hint), iterations, seconds)
        speed[name] = {k: run[k] for k in ("latency_ms", "throughput_fps", "throughput_settings")}
    return {name: speed[name] for name in runs}


def child_main() -> None:
    """Inside a tier's process: measure one round of every run, or validate runs; the result as JSON."""
    from poseforge.runtime.options import ACCURACY
    from poseforge.validate.accuracy.validate import validate_artifact

    job = json.loads(sys.stdin.read())
    result: dict[str, Any] = {"machine": machine_info()}
    if job["kind"] == "round":
        result["speed"] = measure_round(job["runs"], job["shape"], job["iterations"], job["seconds"], job["round"])
    else:
        reports = {}
        for name, (path, hint) in job["runs"].items():
            output = Path(job["reports"]) / f"{name}-val.json"
            report = validate_artifact(path, job["coco"], "val", output, options=ACCURACY.replace(precision_hint=hint),
                                       measure=False, limit=job["limit"])  # fmt: skip
            reports[name] = {"report": str(output), "ap": report["ap"], "interval": report["interval"],
                             "class": report["machine"]["class"]}  # fmt: skip
        result["reports"] = reports
    Path(job["result"]).write_text(json.dumps(result))


def measure_tiers(
    model_dir: str | Path,
    coco: str | Path | None,
    seconds: float = 4.0,
    rounds: int = 3,
    iterations: int = 10,
    tiers: list[str] | None = None,
    limit: int | None = None,
    say: Any = print,
) -> dict[str, Any]:
    """Every tier's speed (interleaved rounds, one process per tier and round) and, with `coco`, the AP
    of its machine-dependent runs with paired differences."""
    from poseforge.runtime import artifact_metadata
    from poseforge.validate.accuracy.compare import compare_reports

    model_dir = Path(model_dir)
    reference = model_dir / "ir" / "fp32" / "model.xml"
    if not reference.is_file():
        raise PoseforgeError(f"bench --tiers needs the IR FP32 {reference}: run `make ir-fp32` first")
    meta = artifact_metadata(reference)
    shape = [1, 3, *meta["input"]["deploy_shape"]]
    tiers = tiers or standin_tiers()
    plan = {tier: tier_runs(model_dir, meta["model"], tier) for tier in tiers}
    measured: dict[str, dict[str, list[dict[str, Any]]]] = {t: {name: [] for name in plan[t]} for t in tiers}
    machines: dict[str, dict[str, Any]] = {}
    for number in range(1, rounds + 1):
        for tier in tiers:
            job = {"kind": "round", "round": number, "shape": shape, "iterations": iterations, "seconds": seconds,
                   "runs": {n: [str(p), h] for n, (p, h) in plan[tier].items()}}  # fmt: skip
            result = _child(tier, job)
            machines[tier] = result["machine"]
            for name, run in result["speed"].items():
                measured[tier][name].append(run)
            say(f"round {number}/{rounds} {tier}: " + ", ".join(
                f"{name} {run['throughput_fps']:.1f} fps" for name, run in result["speed"].items()))  # fmt: skip
    out: dict[str, Any] = {}
    for tier in tiers:
        speed = summarize_rounds(measured[tier])
        entry = {
            "class": machines[tier]["class"],
            "emulated": machines[tier]["tier"] != machines[tier].get("native_tier", machines[tier]["tier"]),
            "environment": {k: v for k, v in tier_environment(tier).items() if k == "ONEDNN_MAX_CPU_ISA"},
            "speed": speed,
            "ratios": medians(ratios_by_round(speed, THROUGHPUT_PAIRS)),
            "accuracy": {},
            "differences": {},
        }
        if machines[tier]["tier"] != tier:
            raise PoseforgeError(f"the {tier} process ran on tier {machines[tier]['tier']}: the cap did not take")
        if coco is not None:
            folder = model_dir / "tiers" / tier / "reports"
            validated = {n: plan[tier][n] for n in plan[tier] if machine_dependent(n) or n == REFERENCE}
            job = {"kind": "validate", "coco": str(coco), "reports": str(folder), "limit": limit,
                   "runs": {n: [str(p), h] for n, (p, h) in validated.items()}}  # fmt: skip
            say(f"{tier}: validating {', '.join(validated)} (val protocol)")
            reports = _child(tier, job)["reports"]
            entry["accuracy"] = {n: {k: r[k] for k in ("ap", "interval", "report")} for n, r in reports.items()}
            for a, b in PAIRS:
                if a in reports and b in reports:
                    paired = compare_reports(reports[b]["report"], reports[a]["report"])["b_minus_a"]
                    entry["differences"][f"{a} - {b}"] = paired
        out[tier] = entry
    dataset = None
    if coco is not None:
        first = next(iter(out.values()))["accuracy"]
        if first:
            from poseforge.validate.accuracy.validate import read_report

            dataset = read_report(next(iter(first.values()))["report"])["dataset"]
    return {
        "schema": TIERS.schema,
        "model": meta["model"],
        "artifacts": {name: artifact_digest(path) for tier in tiers for name, (path, _) in plan[tier].items()},
        "shape": shape,
        "rounds": rounds,
        "seconds": seconds,
        "dataset": dataset,
        "machine": machine_info(),
        "tiers": out,
        "versions": toolchain_versions(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def summarize_rounds(runs_by_name: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Each run's figures over the rounds: median throughput, best latency, throughput / FP32 per round."""
    reference = runs_by_name.get(REFERENCE)
    speed = {}
    for name, rounds in runs_by_name.items():
        by_round = [r["throughput_fps"] for r in rounds]
        fastest = min(rounds, key=lambda r: r["latency_ms"]["median"])
        speed[name] = {
            "latency_ms": {k: fastest["latency_ms"][k] for k in ("median", "p90")},
            "throughput_fps": statistics.median(by_round),
            "throughput_fps_by_round": by_round,
            "precision_hint": rounds[0]["throughput_settings"].get("precision_hint"),
        }
        if reference is not None:
            speed[name]["throughput_over_fp32"] = statistics.median(
                per_round(by_round, [ref["throughput_fps"] for ref in reference])
            )
    return speed


def tier_recommendation(entry: dict[str, Any]) -> str:
    """Which run to deploy on a tier (artifacts.deployable), from its speed and AP there; an exact
    run's AP is its artifact's on any tier."""
    fps = {name: run["throughput_fps"] for name, run in entry["speed"].items()}
    aps = {name: acc["ap"] for name, acc in entry["accuracy"].items()}
    aps.update({name: aps[base_name(name)] for name in fps if not machine_dependent(name) and base_name(name) in aps})
    name = deployable(fps, aps)
    if name is None:
        return f"nothing validated as {REFERENCE} here"
    hint = entry["speed"][name]["precision_hint"]
    return f"{name} with precision hint {hint}: val AP {aps[name]:.3f}, {fps[name]:.1f} fps"


def run_tiers(
    model_dir: str | Path,
    coco: str | Path | None,
    output: str | Path | None,
    seconds: float = 4.0,
    rounds: int = 3,
    limit: int | None = None,
) -> dict[str, Any]:
    """Measure every tier, print a table per tier, write bench-tiers.json."""
    from poseforge.ui import console

    if output is not None:
        claim(output)
    err = console(stderr=True)
    result = measure_tiers(model_dir, coco, seconds, rounds, limit=limit, say=err.print)
    out = console()
    for tier, entry in result["tiers"].items():
        out.print(f"[bold]{tier}[/] ({entry['class']}{', emulated' if entry['emulated'] else ''})")
        for name, run in entry["speed"].items():
            acc = entry["accuracy"].get(name)
            ap = f", val AP {acc['ap']:.4f}" if acc else ""
            out.print(f"  {name:<14} {run['throughput_fps']:7.1f} fps  x{run.get('throughput_over_fp32', 1):.3f} "
                      f"FP32{ap}")  # fmt: skip
        for label, diff in entry["differences"].items():
            out.print(f"  {label}: {diff['ap']:+.4f} [{diff['low']:+.4f}, {diff['high']:+.4f}] (paired)")
        out.print("  " + ratio_line(entry["ratios"], ratios_by_round(entry["speed"], THROUGHPUT_PAIRS)))
        out.print(f"  deploy on {entry['class']}: {tier_recommendation(entry)}")
    if output is not None:
        write_document(output, TIERS, result)
    return result


def read_measured(model_dir: str | Path, name: str, doc: Document, target: str, entries: str) -> dict[str, Any] | None:
    """A benchmark file of the model folder (`doc`, holding the `artifacts` it measured with their
    digests), or None if absent; refused if it measured other versions of the IRs than the folder's."""
    path = Path(model_dir) / name
    if not path.is_file():
        return None
    measured = read_document(reading(path, f"{doc.what} {path}"), doc)
    for run, digest in measured["artifacts"].items():
        file = Path(model_dir) / BY_NAME[base_name(run)].file if base_name(run) in BY_NAME else None
        if file is None or not file.is_file() or artifact_digest(file) != digest:
            raise PoseforgeError(f"{path} measured another version of {run}: run `make {target}` again")
    for key, entry in measured[entries].items():
        if problem := rounds_problem(entry["speed"], entry["ratios"], measured["rounds"]):
            raise PoseforgeError(f"{path} is not a valid {doc.what}: {key}: {problem}")
    return measured


def read_tiers(model_dir: str | Path) -> dict[str, Any] | None:
    """The model's bench-tiers.json, or None; refused if it measured other versions of the IRs."""
    return read_measured(model_dir, TIERS_FILE, TIERS, "bench-tiers", "tiers")
