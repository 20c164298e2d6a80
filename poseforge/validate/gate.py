"""The accuracy regression gate: the latest reports against a committed baseline.

The baseline (`baselines/<model>.json`) holds, for every artifact and protocol, the expected
AP with a tolerance, and the speed ratios that matter with a relative tolerance. Ratios, not
absolute fps: machines differ, ratios measured in one run on one machine travel.

The gate fails closed: a missing report, a NaN, a different image count, protocol or
annotation file than the baseline's is a failure, never a pass.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poseforge.errors import PoseforgeError
from poseforge.fileio import read_json, write_json
from poseforge.preprocess import PROTOCOLS
from poseforge.validate.validate import read_report

SCHEMA = "poseforge.baseline/1"
AP_TOLERANCE = 0.005  # same artifact, another machine: kernels and threads move AP by a few 1e-3
INT8_AP_TOLERANCE = 0.010  # INT8 kernels differ more across ISAs (VNNI or not)
# The ratios come from `bench.json` (`poseforge bench`: measured in one run, INT8 against FP32
# in interleaved rounds). name -> (which direction is better, default relative tolerance, meaning).
# Tolerances follow each ratio's noise on a shared 2-core machine: a decode time of ~1 ms against
# a 50 ms latency moves by tens of percent from run to run, so only a doubling fails.
RATIOS: dict[str, tuple[str, float, str]] = {
    "int8_over_fp32_throughput": ("higher", 0.25, "INT8 / FP32 network throughput (deploy shape, interleaved)"),
    "int8_over_omz_throughput": ("higher", 0.15, "INT8 / Intel's INT8 release throughput (interleaved)"),
    "decode_over_latency": ("lower", 1.0, "decode time / FP32 network latency (deploy shape)"),
    "e2e_over_throughput": ("higher", 0.15, "end-to-end fps / FP32 network throughput"),
}
BENCH = "bench.json"


@dataclass
class Check:
    name: str
    expected: str
    measured: str
    delta: str
    verdict: str  # "pass", "FAIL", "better" (pass, worth a new baseline), "new" (not in the baseline)

    @property
    def failed(self) -> bool:
        return self.verdict == "FAIL"


def read_reports(model_dir: str | Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Reports keyed by (artifact, protocol) as their file names say (`<artifact>-<protocol>.json`),
    so that a report whose content disagrees is caught; unreadable ones raise (fail closed)."""
    reports = {}
    for path in sorted((Path(model_dir) / "reports").glob("*.json")):
        artifact, _, protocol = path.stem.rpartition("-")
        if protocol not in PROTOCOLS:
            raise PoseforgeError(f"{path} is not named <artifact>-<protocol>.json: the gate cannot pass")
        reports[(artifact, protocol)] = read_report(path)
    return reports


def read_bench(model_dir: str | Path) -> dict[str, Any] | None:
    """The model's bench.json, or None when there is none (its ratio checks then fail)."""
    from poseforge.validate.bench import SCHEMA as BENCH_SCHEMA

    path = Path(model_dir) / BENCH
    return read_json(path, BENCH_SCHEMA, "bench file") if path.is_file() else None


def ratio_values(bench: dict[str, Any] | None) -> dict[str, float]:
    return {name: float(value) for name, value in (bench or {}).get("ratios", {}).items() if name in RATIOS}


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def check_accuracy(baseline: dict[str, Any], reports: dict[tuple[str, str], dict[str, Any]]) -> list[Check]:
    checks = []
    annotations = baseline["dataset"]["annotations_sha256"]
    for artifact, protocols in baseline["accuracy"].items():
        for protocol, expect in protocols.items():
            name = f"{artifact} {protocol} AP"
            report = reports.get((artifact, protocol))
            if report is None:
                checks.append(Check(name, f"{expect['ap']:.4f}", "missing report", "-", "FAIL"))
                continue
            ap = report.get("ap")
            problem = None
            if report.get("artifact") != artifact:
                problem = f"artifact {report.get('artifact')}"
            elif report.get("protocol") != protocol:
                problem = f"protocol {report.get('protocol')}"
            elif report.get("images") != expect["images"]:
                problem = f"{report.get('images')} images, baseline {expect['images']}"
            elif (report.get("dataset") or {}).get("annotations_sha256") != annotations:
                problem = "other annotations"
            elif not _finite(ap):
                problem = f"AP {ap}"
            if problem:
                checks.append(Check(name, f"{expect['ap']:.4f}", problem, "-", "FAIL"))
                continue
            delta = ap - expect["ap"]
            verdict = "FAIL" if delta < -expect["tolerance"] else "better" if delta > expect["tolerance"] else "pass"
            checks.append(Check(name, f"{expect['ap']:.4f} ± {expect['tolerance']}", f"{ap:.4f}", f"{delta:+.4f}",
                                verdict))  # fmt: skip
    listed = {(a, p) for a, protocols in baseline["accuracy"].items() for p in protocols}
    for artifact, protocol in sorted(set(reports) - listed):
        ap = reports[(artifact, protocol)].get("ap")
        checks.append(Check(f"{artifact} {protocol} AP", "not in baseline", f"{ap:.4f}", "-", "new"))
    return checks


def check_ratios(baseline: dict[str, Any], bench: dict[str, Any] | None) -> list[Check]:
    checks = []
    measured = ratio_values(bench)
    for name, expect in baseline["ratios"].items():
        value = measured.get(name, math.nan)
        label = f"{name} ({'higher' if expect['better'] == 'higher' else 'lower'} is better)"
        if not _finite(value):
            missing = "no bench.json" if bench is None else "missing or NaN"
            checks.append(Check(label, f"{expect['expected']:.3f}", missing, "-", "FAIL"))
            continue
        change = value / expect["expected"] - 1
        worse = -change if expect["better"] == "higher" else change
        verdict = "FAIL" if worse > expect["tolerance"] else "better" if -worse > expect["tolerance"] else "pass"
        checks.append(Check(label, f"{expect['expected']:.3f} ± {expect['tolerance']:.0%}", f"{value:.3f}",
                            f"{change:+.1%}", verdict))  # fmt: skip
    return checks


def read_baseline(path: str | Path) -> dict[str, Any]:
    return read_json(path, SCHEMA, "baseline")


def run_gate(model_dir: str | Path, baseline_path: str | Path) -> list[Check]:
    baseline = read_baseline(baseline_path)
    reports = read_reports(model_dir)
    if not reports:
        raise PoseforgeError(f"no reports in {Path(model_dir) / 'reports'}: the gate cannot pass")
    return check_accuracy(baseline, reports) + check_ratios(baseline, read_bench(model_dir))


def make_baseline(model_dir: str | Path, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """A baseline from the current reports, keeping the tolerances of `previous` where it has them."""
    reports = read_reports(model_dir)
    if not reports:
        raise PoseforgeError(f"no reports in {Path(model_dir) / 'reports'}: run `make validate` first")
    first = next(iter(reports.values()))
    old_accuracy = (previous or {}).get("accuracy", {})
    old_ratios = (previous or {}).get("ratios", {})
    accuracy: dict[str, dict[str, Any]] = {}
    for (artifact, protocol), report in sorted(reports.items()):
        if not _finite(report.get("ap")):
            raise PoseforgeError(f"{artifact} {protocol} has AP {report.get('ap')}: not a baseline")
        default = INT8_AP_TOLERANCE if "int8" in artifact else AP_TOLERANCE
        tolerance = old_accuracy.get(artifact, {}).get(protocol, {}).get("tolerance", default)
        accuracy.setdefault(artifact, {})[protocol] = {
            "ap": round(report["ap"], 4), "tolerance": tolerance, "images": report["images"],
        }  # fmt: skip
    bench = read_bench(model_dir)
    if bench is None:
        raise PoseforgeError(f"no {Path(model_dir) / BENCH}: run `make bench` first (the speed ratios come from it)")
    ratios = {}
    for name, value in ratio_values(bench).items():
        if _finite(value):
            better, default, description = RATIOS[name]
            tolerance = old_ratios.get(name, {}).get("tolerance", default)
            ratios[name] = {"expected": round(value, 4), "tolerance": tolerance, "better": better,
                            "description": description}  # fmt: skip
    return {
        "schema": SCHEMA,
        "model": first["model"],
        "dataset": {"annotations_sha256": first["dataset"]["annotations_sha256"], "images": first["images"]},
        "accuracy": accuracy,
        "ratios": ratios,
        "measured_on": {
            "machine": first["machine"],
            "precision_hint": first["precision_hint"],
            "threads": first["threads"],
            "versions": first["versions"],
        },
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def baseline_changes(old: dict[str, Any] | None, new: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(entry, old value, new value) for everything that differs."""

    def flat(baseline: dict[str, Any] | None) -> dict[str, str]:
        if not baseline:
            return {}
        out = {f"{a} {p} AP": f"{e['ap']:.4f} ± {e['tolerance']}" for a, ps in baseline["accuracy"].items()
               for p, e in ps.items()}  # fmt: skip
        out.update({name: f"{e['expected']:.3f} ± {e['tolerance']:.0%}" for name, e in baseline["ratios"].items()})
        return out

    before, after = flat(old), flat(new)
    return [(k, before.get(k, "-"), after.get(k, "-")) for k in sorted(before.keys() | after.keys())
            if before.get(k) != after.get(k)]  # fmt: skip


def write_baseline(model_dir: str | Path, path: str | Path) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    previous = read_baseline(path) if Path(path).is_file() else None
    baseline = make_baseline(model_dir, previous)
    write_json(path, baseline)
    return baseline, baseline_changes(previous, baseline)
