"""The accuracy regression gate: the latest reports against a committed baseline.

The baseline (`baselines/<model>.json`, documents.BASELINE) holds, for every artifact and
protocol, the expected AP with a tolerance, and the speed ratios that matter with a relative
tolerance. Ratios, not absolute fps: machines differ, ratios measured in one run travel.

The gate is closed by construction: it passes only on checks that were made. Every document
is read through its declared schema (no NaN, no boolean AP, no empty section); a missing
report, a report on a subset, on other images or annotations, of another model, or of
another version of the artifact than the one in the model folder is a FAIL with its reason,
never a pass. A FAIL row also says what differs from the baseline's provenance.

The tolerances make this a deterministic regression check on one fixed image set (the same
inputs give the same AP); they are not a claim about AP on the population of images.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poseforge.artifacts import BY_NAME, PROTOCOLS, artifact_digest, base_name, run_name
from poseforge.documents import BASELINE, BENCH, read_document, write_document
from poseforge.errors import PoseforgeError
from poseforge.validate.accuracy.validate import read_report
from poseforge.validate.speed.targets import GATED, TARGETS

SCHEMA = BASELINE.schema
BENCH_FILE = "bench.json"
CLAIM = (
    "a deterministic regression check on one fixed image set (same inputs, same AP): its tolerances are "
    "not a population claim; the report's intervals say how sure an AP is"
)


@dataclass
class Check:
    name: str
    expected: str
    measured: str
    delta: str
    verdict: str  # "pass", "FAIL", "better" (pass, worth a new baseline), "new" (not in the baseline)
    causes: list[str] = field(default_factory=list)  # for a FAIL: what differs from the baseline

    @property
    def failed(self) -> bool:
        return self.verdict == "FAIL"


def read_reports(model_dir: str | Path) -> dict[tuple[str, str], tuple[Path, dict[str, Any]]]:
    """Reports keyed by (artifact, protocol) as their file names say (`<artifact>-<protocol>.json`),
    so that a report whose content disagrees is caught; an unreadable one raises (fail closed)."""
    reports = {}
    for path in sorted((Path(model_dir) / "reports").glob("*.json")):
        artifact, _, protocol = path.stem.rpartition("-")
        if protocol not in PROTOCOLS or not artifact:
            raise PoseforgeError(f"{path} is not named <artifact>-<protocol>.json: the gate cannot pass")
        reports[(artifact, protocol)] = (path, read_report(path))
    return reports


def read_bench(model_dir: str | Path) -> dict[str, Any] | None:
    """The model's bench.json, or None when there is none (its ratio checks then fail)."""
    path = Path(model_dir) / BENCH_FILE
    if not path.is_file():
        return None
    bench = read_document(path, BENCH)
    known = {t.name for t in TARGETS}
    if unknown := sorted(set(bench["ratios"]) - known):
        raise PoseforgeError(f"{path} is not a valid bench file: unknown ratio {', '.join(unknown)} (known: "
                             f"{', '.join(sorted(known))})")  # fmt: skip
    return bench


def read_baseline(path: str | Path) -> dict[str, Any]:
    return read_document(path, BASELINE)


def provenance(report: dict[str, Any]) -> dict[str, Any]:
    """What decides a report's AP besides the network's quality: recorded in the baseline, and
    compared with it when an AP fails."""
    versions = report["versions"]
    return {
        "artifact_sha256": report["artifact_sha256"],
        "images": report["dataset"]["image_ids_sha256"],
        "annotations_sha256": report["dataset"]["annotations_sha256"],
        "decoder": report["decoder"],
        "calibration": (report.get("provenance") or {}).get("calibration"),
        "precision_hint": report["precision_hint"],
        "versions": {k: versions[k] for k in ("openvino", "torch", "onnxruntime", "nncf") if k in versions},
    }


def provenance_changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    if not before:
        return ["the baseline records no provenance for this entry"]
    changes = []
    for key in sorted(before.keys() | after.keys()):
        if before.get(key) != after.get(key):
            if key == "calibration":
                old, new = before.get(key) or {}, after.get(key) or {}
                changes.append(
                    f"calibration {old.get('folder', '-')} ({str(old.get('sha256', '-'))[:12]}) -> "
                    f"{new.get('folder', '-')} ({str(new.get('sha256', '-'))[:12]})"
                )
            elif key in ("decoder", "versions"):
                old, new = before.get(key) or {}, after.get(key) or {}
                diff = [f"{k} {old.get(k)} -> {new.get(k)}" for k in sorted(old.keys() | new.keys())
                        if old.get(k) != new.get(k)]  # fmt: skip
                changes.append(f"{key}: {', '.join(diff)}")
            else:
                changes.append(f"{key} {str(before.get(key))[:12]} -> {str(after.get(key))[:12]}")
    return changes or ["nothing recorded differs: the artifact itself got worse"]


def report_problem(
    baseline: dict[str, Any], artifact: str, protocol: str, path: Path, report: dict[str, Any], model_dir: Path,
    allow_subset: bool = False,
) -> str | None:  # fmt: skip
    """Why this report cannot be compared with the baseline (a FAIL), or None."""
    dataset, expected = report["dataset"], baseline["dataset"]
    if report["model"] != baseline["model"]:
        return f"report of model {report['model']}, baseline of {baseline['model']}"
    name = run_name(report["artifact"], report["precision_hint"])
    if name != artifact or report["protocol"] != protocol:
        return f"{path.name} holds the {report['protocol']} report of {name}"
    if report["subset"] and not allow_subset:
        return f"a subset: {report['images']} of {dataset['images_total']} images"
    if dataset["annotations_sha256"] != expected["annotations_sha256"]:
        return f"other annotations ({dataset['name']}, sha256 {dataset['annotations_sha256'][:12]})"
    if dataset["image_ids_sha256"] != expected["image_ids_sha256"] or report["images"] != expected["images"]:
        return f"other images: {report['images']} of {dataset['name']}, baseline {expected['images']}"
    known = BY_NAME.get(base_name(artifact))
    if known is not None:
        current = model_dir / known.file
        if not current.is_file():
            return f"{current} is missing: nothing to vouch for"
        if artifact_digest(current) != report["artifact_sha256"]:
            return f"stale: measured on another version of {current}"
    return None


def check_accuracy(
    baseline: dict[str, Any],
    reports: dict[tuple[str, str], tuple[Path, dict[str, Any]]],
    model_dir: Path,
    allow_subset: bool = False,
) -> list[Check]:
    checks = []
    for artifact, protocols in baseline["accuracy"].items():
        for protocol, expect in protocols.items():
            name, wanted = f"{artifact} {protocol} AP", f"{expect['ap']:.4f} ± {expect['tolerance']}"
            if (artifact, protocol) not in reports:
                checks.append(
                    Check(name, wanted, "missing report", "-", "FAIL", [f"no reports/{artifact}-{protocol}.json"])
                )
                continue
            path, report = reports[(artifact, protocol)]
            problem = report_problem(baseline, artifact, protocol, path, report, model_dir, allow_subset)
            if problem:
                checks.append(Check(name, wanted, "not comparable", "-", "FAIL", [problem]))
                continue
            delta = report["ap"] - expect["ap"]
            verdict = "FAIL" if delta < -expect["tolerance"] else "better" if delta > expect["tolerance"] else "pass"
            causes = provenance_changes(expect.get("provenance"), provenance(report)) if verdict == "FAIL" else []
            checks.append(Check(name, wanted, f"{report['ap']:.4f}", f"{delta:+.4f}", verdict, causes))
    listed = {(a, p) for a, protocols in baseline["accuracy"].items() for p in protocols}
    for artifact, protocol in sorted(set(reports) - listed):
        path, report = reports[(artifact, protocol)]
        if report["model"] != baseline["model"]:
            checks.append(Check(f"{artifact} {protocol} AP", "-", "not comparable", "-", "FAIL",
                                [f"{path.name} is a report of model {report['model']}"]))  # fmt: skip
        else:
            checks.append(Check(f"{artifact} {protocol} AP", "not in baseline", f"{report['ap']:.4f}", "-", "new"))
    return checks


def stale_bench(model_dir: Path, bench: dict[str, Any]) -> list[str]:
    """What changed since the bench measured: an artifact now another version, or gone."""
    causes = []
    for name, digest in bench["artifacts"].items():
        path = model_dir / BY_NAME[name].file if name in BY_NAME else None
        if path is None or not path.is_file():
            causes.append(f"stale: {BENCH_FILE} measured {name}, which is not in {model_dir}")
        elif artifact_digest(path) != digest:
            causes.append(f"stale: {BENCH_FILE} measured another version of {path}: run `make bench`")
    return causes


def check_ratios(baseline: dict[str, Any], bench: dict[str, Any] | None, model_dir: Path) -> list[Check]:
    checks = []
    stale = stale_bench(model_dir, bench) if bench is not None else []
    for name, expect in baseline["ratios"].items():
        label = f"{name} ({expect['better']} is better)"
        if name not in GATED:
            checks.append(Check(label, "-", "not comparable", "-", "FAIL", [f"{name} is not a gated speed target"]))
            continue
        wanted = f"{expect['expected']:.3f} ± {expect['tolerance']:.0%}"
        if bench is None:
            checks.append(Check(label, wanted, "no bench.json", "-", "FAIL", [f"no {BENCH_FILE}: run `make bench`"]))
            continue
        if bench["model"] != baseline["model"]:
            checks.append(Check(label, wanted, "not comparable", "-", "FAIL",
                                [f"bench of model {bench['model']}, baseline of {baseline['model']}"]))  # fmt: skip
            continue
        if stale:
            checks.append(Check(label, wanted, "not comparable", "-", "FAIL", stale))
            continue
        if name not in bench["ratios"]:
            checks.append(Check(label, wanted, "not measured", "-", "FAIL", [f"{BENCH_FILE} has no {name}"]))
            continue
        value = bench["ratios"][name]
        change = value / expect["expected"] - 1
        worse = -change if expect["better"] == "higher" else change
        verdict = "FAIL" if worse > expect["tolerance"] else "better" if -worse > expect["tolerance"] else "pass"
        causes = [f"machine {bench['machine'].get('cpu')}"] if verdict == "FAIL" else []
        checks.append(Check(label, wanted, f"{value:.3f}", f"{change:+.1%}", verdict, causes))
    return checks


def run_gate(model_dir: str | Path, baseline_path: str | Path, allow_subset: bool = False) -> list[Check]:
    baseline = read_baseline(baseline_path)
    reports = read_reports(model_dir)
    if not reports:
        raise PoseforgeError(f"no reports in {Path(model_dir) / 'reports'}: the gate cannot pass")
    accuracy = check_accuracy(baseline, reports, Path(model_dir), allow_subset)
    return accuracy + check_ratios(baseline, read_bench(model_dir), Path(model_dir))


def comparable_reports(
    model_dir: str | Path, allow_subset: bool = False
) -> list[tuple[str, str, Path, dict[str, Any]]]:
    """(artifact, protocol, path, report) of one model on one image set; refuses subsets (unless
    `allow_subset`), mixed models and mixed image sets, saying which report differs."""
    reports = read_reports(model_dir)
    if not reports:
        raise PoseforgeError(f"no reports in {Path(model_dir) / 'reports'}: run `make validate` first")
    rows = [(a, p, path, r) for (a, p), (path, r) in sorted(reports.items())]
    first = rows[0][3]
    for _, _, path, report in rows:
        if report["subset"] and not allow_subset:
            raise PoseforgeError(
                f"{path} is on a subset ({report['images']} of {report['dataset']['images_total']} images): "
                "refused (--allow-subset to use it anyway)"
            )
        if report["model"] != first["model"]:
            raise PoseforgeError(f"{path} is a report of {report['model']}, not {first['model']}: mixed models")
        if report["dataset"]["image_ids_sha256"] != first["dataset"]["image_ids_sha256"]:
            raise PoseforgeError(
                f"{path} was measured on other images ({report['images']} of {report['dataset']['name']}) than "
                f"{rows[0][2].name} ({first['images']} of {first['dataset']['name']}): mixed image sets"
            )
    return rows


def make_baseline(
    model_dir: str | Path, previous: dict[str, Any] | None = None, allow_subset: bool = False
) -> dict[str, Any]:
    """A baseline from the current reports, keeping the tolerances of `previous` where it has them."""
    rows = comparable_reports(model_dir, allow_subset)
    first = rows[0][3]
    old_accuracy = (previous or {}).get("accuracy", {})
    old_ratios = (previous or {}).get("ratios", {})
    accuracy: dict[str, dict[str, Any]] = {}
    for artifact, protocol, _, report in rows:
        # A variant (another precision hint) runs other kernels: the INT8 tolerance, like any other.
        known = BY_NAME.get(artifact)
        default = known.ap_tolerance if known is not None else BY_NAME["ir-int8"].ap_tolerance
        tolerance = old_accuracy.get(artifact, {}).get(protocol, {}).get("tolerance", default)
        accuracy.setdefault(artifact, {})[protocol] = {
            "ap": round(report["ap"], 4), "tolerance": tolerance, "images": report["images"],
            "provenance": provenance(report),
        }  # fmt: skip
    bench = read_bench(model_dir)
    if bench is None:
        raise PoseforgeError(
            f"no {Path(model_dir) / BENCH_FILE}: run `make bench` first (the speed ratios come from it)"
        )
    if stale := stale_bench(Path(model_dir), bench):
        raise PoseforgeError(f"{Path(model_dir) / BENCH_FILE} is {stale[0].removeprefix('stale: ')}")
    ratios = {}
    for name, value in bench["ratios"].items():
        if name in GATED:
            target = GATED[name]
            tolerance = old_ratios.get(name, {}).get("tolerance", target.gate_tolerance)
            ratios[name] = {"expected": round(value, 4), "tolerance": tolerance, "better": target.better,
                            "description": target.meaning}  # fmt: skip
    dataset = first["dataset"]
    return {
        "schema": SCHEMA,
        "model": first["model"],
        "claim": CLAIM,
        "dataset": {
            "name": dataset["name"],
            "annotations_sha256": dataset["annotations_sha256"],
            "image_ids_sha256": dataset["image_ids_sha256"],
            "images": first["images"],
            "people": dataset["people"],
        },
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
        out["image set"] = f"{baseline['dataset'].get('name', '?')} ({baseline['dataset']['images']} images)"
        return out

    before, after = flat(old), flat(new)
    return [(k, before.get(k, "-"), after.get(k, "-")) for k in sorted(before.keys() | after.keys())
            if before.get(k) != after.get(k)]  # fmt: skip


def write_baseline(
    model_dir: str | Path, path: str | Path, allow_subset: bool = False
) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    sources = [*(Path(model_dir) / "reports").glob("*.json"), Path(model_dir) / BENCH_FILE]
    if Path(path).resolve() in {source.resolve() for source in sources}:  # it would replace what it is made from
        raise PoseforgeError(f"--baseline {path} is one of the files the baseline is made from: choose another path")
    previous = None
    if Path(path).is_file():
        try:
            previous = read_baseline(path)
        except PoseforgeError:  # an older schema or a broken file: rewritten with default tolerances
            previous = None
    baseline = make_baseline(model_dir, previous, allow_subset)
    write_document(path, BASELINE, baseline)
    return baseline, baseline_changes(previous, baseline)
