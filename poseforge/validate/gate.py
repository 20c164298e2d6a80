"""The accuracy regression gate: the latest reports and bench against a committed baseline.

The baseline (`baselines/<model>.json`, documents.BASELINE) holds two kinds of expectation:
- `accuracy`: the AP of every exact artifact (torch, ONNX, FP32 and FP16 IRs run with f32), the
  same on every machine class;
- `classes`: per machine class (poseforge.machine: ISA tier + cores), what that class's kernels
  decide: the AP of INT8 and bf16 runs, their agreement with the FP32 IR (validate.accuracy.
  agreement: far finer than AP, so a quantization regression shows there first), and the speed ratios.
Each row is judged against what was recorded for the class it was measured on (its report's or
the bench's `machine.class`). A class the baseline has no section for is named in the table: its
class-specific rows are `unchecked` (not failed), while exact accuracy and the machine-independent
bounds still are: INT8 and bf16 AP within their tolerance of the FP32 IR's in the same run, and the
speed targets' `bound`s (validate.speed.targets: our INT8 against Intel's measured in the same
run, the decoder's share, end to end's share).

The gate is closed by construction: it passes only on checks that were made. Every document is
read through its declared schema; every report's figures (AP and AR, its interval, its counts) are
re-derived from the results file it attests (pycocotools on the annotations it cites, checked by
sha256; validate.accuracy.compare.rederived), and every agreement from the run's and the FP32 IR's
results files, so an edited figure fails; a bench
must list every artifact its ratios use. A missing report, a subset, other images or annotations,
another model, or a report of another version of the artifact than the one in the model folder
is a FAIL with its reason, never a pass. A FAIL row says what differs from the baseline's
provenance, and names a machine change when the artifact's bytes are the same.

The tolerances make this a deterministic regression check on one fixed image set (the same
inputs give the same AP); they are not a claim about AP on the population of images.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poseforge.artifacts import (
    BY_NAME,
    DEFAULT_HEIGHT,
    REFERENCE,
    ap_tolerance,
    artifact_digest,
    base_name,
    machine_dependent,
    report_key,
    run_name,
    split_protocol_key,
)
from poseforge.documents import BASELINE, BENCH, read_document, same_figure, write_document
from poseforge.errors import PoseforgeError
from poseforge.fileio import claim, reading
from poseforge.machine import native_tier
from poseforge.validate.accuracy.agreement import AGREEMENT_TOLERANCE
from poseforge.validate.accuracy.agreement_reports import ReportScorer, reference_report, rescored
from poseforge.validate.accuracy.compare import rederived
from poseforge.validate.accuracy.validate import read_report
from poseforge.validate.speed.interleaved import rounds_problem
from poseforge.validate.speed.targets import BY_NAME as TARGETS_BY_NAME
from poseforge.validate.speed.targets import FIGURE_RATIOS, GATED, TARGETS

SCHEMA = BASELINE.schema
BENCH_FILE = "bench.json"
CLAIM = (
    "a deterministic regression check on one fixed image set (same inputs, same AP): its tolerances are "
    "not a population claim; the report's intervals say how sure an AP is"
)
Reports = dict[tuple[str, str], tuple[Path, dict[str, Any]]]


@dataclass
class Check:
    name: str
    expected: str
    measured: str
    delta: str
    # "pass", "FAIL", "better" (pass, worth a new baseline), "new" (not in the baseline),
    # "unchecked" (class-specific, and the baseline has no section for the class)
    verdict: str
    causes: list[str] = field(default_factory=list)  # for a FAIL: what differs from the baseline

    @property
    def failed(self) -> bool:
        return self.verdict == "FAIL"


@dataclass
class GateResult:
    checks: list[Check]
    classes: list[str]  # the machine classes the reports and bench were measured on
    missing_classes: list[str]  # those the baseline has no section for

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.failed]

    @property
    def unchecked(self) -> list[Check]:
        return [c for c in self.checks if c.verdict == "unchecked"]


# --- reading ------------------------------------------------------------------------------------
def read_reports(model_dir: str | Path) -> Reports:
    """Reports keyed by (artifact, protocol key) as their file names say (`<artifact>-<protocol>.json`,
    the native protocol at another height `<artifact>-native@<height>.json`), so that a report whose
    content disagrees is caught; an unreadable one raises (fail closed)."""
    reports = {}
    for path in sorted((Path(model_dir) / "reports").glob("*.json")):
        artifact, _, protocol = path.stem.rpartition("-")
        try:
            split_protocol_key(protocol)
        except PoseforgeError as exc:
            raise PoseforgeError(
                f"{path} is not named <artifact>-<protocol>.json ({exc}): the gate cannot pass"
            ) from None
        if not artifact:
            raise PoseforgeError(f"{path} is not named <artifact>-<protocol>.json: the gate cannot pass")
        reports[(artifact, protocol)] = (path, read_report(path))
    return reports


def read_bench(model_dir: str | Path) -> dict[str, Any] | None:
    """The model's bench.json, or None when there is none (its ratio checks then fail). Refused if
    it carries a ratio no target defines, or one whose artifacts it does not list as measured."""
    path = Path(model_dir) / BENCH_FILE
    if not path.is_file():
        return None
    bench = read_document(reading(path, f"{BENCH.what} {path}"), BENCH)
    known = {t.name for t in TARGETS}
    if unknown := sorted(set(bench["ratios"]) - known):
        raise PoseforgeError(f"{path} is not a valid bench file: unknown ratio {', '.join(unknown)} (known: "
                             f"{', '.join(sorted(known))})")  # fmt: skip
    for name in bench["ratios"]:
        if missing := [run for run in TARGETS_BY_NAME[name].uses if run not in bench["artifacts"]]:
            raise PoseforgeError(f"{path} is not a valid bench file: it carries {name} but does not list "
                                 f"{', '.join(missing)}, which that ratio is measured on")  # fmt: skip
    if problem := rounds_problem(bench["speed"], bench["ratios"], bench["rounds"]) or figures_problem(bench):
        raise PoseforgeError(f"{path} is not a valid bench file: {problem}")
    return bench


def figures_problem(bench: dict[str, Any]) -> str | None:
    """Why a bench file's ratio is not what its own figures give (an edited file), or None."""
    for name, value in bench["ratios"].items():
        if name in FIGURE_RATIOS:
            try:
                derived = FIGURE_RATIOS[name](bench["figures"])
            except KeyError as exc:
                return f"it carries {name} but not the figure {exc} it is computed from"
            if not same_figure(value, derived):
                return f"{name} {value:.4f} is not what its figures give ({derived:.4f})"
    return None


def read_baseline(path: str | Path) -> dict[str, Any]:
    return read_document(path, BASELINE)


# --- provenance --------------------------------------------------------------------------------
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
        "machine_class": report["machine"]["class"],
        "cpu": report["machine"]["cpu"],
        "versions": {k: versions[k] for k in ("openvino", "torch", "onnxruntime", "nncf") if k in versions},
    }


def agreement_provenance(report: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """What decides an agreement: the run's provenance, and which FP32 IR it was scored against."""
    return {**provenance(report), "reference_sha256": reference["artifact_sha256"]}


def _calibration_change(old: dict[str, Any] | None, new: dict[str, Any] | None) -> str | None:
    """The calibration's change, by what was used (the images' sha256 and the settings), not where
    the folder was: the same images at another path are the same calibration."""
    old, new = old or {}, new or {}
    ignore = {"folder"}
    if {k: v for k, v in old.items() if k not in ignore} == {k: v for k, v in new.items() if k not in ignore}:
        return None
    return (f"calibration {old.get('folder', '-')} ({str(old.get('sha256', '-'))[:12]}) -> "
            f"{new.get('folder', '-')} ({str(new.get('sha256', '-'))[:12]})")  # fmt: skip


def provenance_changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    if not before:
        return ["the baseline records no provenance for this entry"]
    changes = []
    same_bytes = before.get("artifact_sha256") == after.get("artifact_sha256")
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old == new or key == "cpu":
            continue
        if key == "calibration":
            if change := _calibration_change(old, new):
                changes.append(change)
        elif key == "machine_class":
            changes.append(f"machine {old or 'unrecorded'} -> {new}" + (
                ": the artifact's bytes are unchanged, the kernels are not" if same_bytes else ""))  # fmt: skip
        elif key in ("decoder", "versions"):
            old, new = old or {}, new or {}
            diff = [f"{k} {old.get(k)} -> {new.get(k)}" for k in sorted(old.keys() | new.keys())
                    if old.get(k) != new.get(k)]  # fmt: skip
            changes.append(f"{key}: {', '.join(diff)}")
        else:
            changes.append(f"{key} {str(old)[:12]} -> {str(new)[:12]}")
    if before.get("cpu") != after.get("cpu") and before.get("machine_class") == after.get("machine_class"):
        changes.append(f"cpu {before.get('cpu')} -> {after.get('cpu')} (the same machine class)")
    if changes:
        return changes
    if same_bytes:
        return ["nothing recorded differs (the same artifact bytes, decoder, images, versions and machine class): "
                "poseforge's own pre-processing, decoding or scoring changed"]  # fmt: skip
    return ["nothing recorded differs but the artifact's bytes: the artifact itself got worse"]


def report_problem(
    baseline: dict[str, Any], artifact: str, protocol: str, path: Path, report: dict[str, Any], model_dir: Path,
    allow_subset: bool = False,
) -> str | None:  # fmt: skip
    """Why this report cannot be compared with the baseline (a FAIL), or None."""
    dataset, expected = report["dataset"], baseline["dataset"]
    if report["model"] != baseline["model"]:
        return f"report of model {report['model']}, baseline of {baseline['model']}"
    name = run_name(report["artifact"], report["precision_hint"])
    if name != artifact or report_key(report) != protocol:
        return f"{path.name} holds the {report_key(report)} report of {name}"
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


# --- the checks ------------------------------------------------------------------------------------
def ap_check(name: str, expect: dict[str, Any], path: Path, report: dict[str, Any], problem: str | None) -> Check:
    wanted = f"{expect['ap']:.4f} ± {expect['tolerance']}"
    if problem:
        return Check(name, wanted, "not comparable", "-", "FAIL", [problem])
    delta = report["ap"] - expect["ap"]
    verdict = "FAIL" if delta < -expect["tolerance"] else "better" if delta > expect["tolerance"] else "pass"
    causes = provenance_changes(expect.get("provenance"), provenance(report)) if verdict == "FAIL" else []
    return Check(name, wanted, f"{report['ap']:.4f}", f"{delta:+.4f}", verdict, causes)


def report_problems(
    baseline: dict[str, Any], reports: Reports, model_dir: Path, allow_subset: bool = False
) -> dict[tuple[str, str], str | None]:
    """Why each report cannot be compared with the baseline (its figures re-derived from its results), or None."""
    datasets: dict = {}
    problems = {}
    for key, (path, report) in reports.items():
        problems[key] = report_problem(baseline, *key, path, report, model_dir, allow_subset)
        if problems[key] is None and report["model"] == baseline["model"]:
            try:
                rederived(path, report, datasets)
            except PoseforgeError as exc:
                problems[key] = str(exc)
    return problems


def check_accuracy(
    baseline: dict[str, Any], reports: Reports, problems: dict, running_class: str | None = None
) -> list[Check]:
    """Every report against the baseline: exact artifacts against `accuracy`, machine-dependent runs
    against their class's section (unchecked where it has none), then the bounds. A row the section
    of `running_class` (the class measured) expects but no report holds fails."""
    checks = []
    for artifact, protocols in baseline["accuracy"].items():
        for protocol, expect in protocols.items():
            name = f"{artifact} {protocol} AP"
            if (artifact, protocol) not in reports:
                checks.append(Check(name, f"{expect['ap']:.4f} ± {expect['tolerance']}", "missing report", "-",
                                    "FAIL", [f"no reports/{artifact}-{protocol}.json"]))  # fmt: skip
                continue
            path, report = reports[(artifact, protocol)]
            checks.append(ap_check(name, expect, path, report, problems[(artifact, protocol)]))
    for artifact, protocol in sorted(set(reports) - {(a, p) for a, ps in baseline["accuracy"].items() for p in ps}):
        path, report = reports[(artifact, protocol)]
        name = f"{artifact} {protocol} AP"
        if report["model"] != baseline["model"]:
            checks.append(Check(name, "-", "not comparable", "-", "FAIL",
                                [f"{path.name} is a report of model {report['model']}"]))  # fmt: skip
            continue
        if not machine_dependent(artifact):
            checks.append(Check(name, "not in baseline", f"{report['ap']:.4f}", "-", "new"))
            continue
        machine_class = report["machine"]["class"]
        section = baseline["classes"].get(machine_class)
        label = f"{name} on {machine_class}"
        if section is None:
            checks.append(Check(label, f"no {machine_class} section", f"{report['ap']:.4f}", "-", "unchecked"))
        elif (expect := section["accuracy"].get(artifact, {}).get(protocol)) is None:
            checks.append(Check(label, "not in baseline", f"{report['ap']:.4f}", "-", "new"))
        else:
            checks.append(ap_check(label, expect, path, report, problems[(artifact, protocol)]))
    section = baseline["classes"].get(running_class or "", {"accuracy": {}})
    for artifact, protocols in section["accuracy"].items():
        for protocol, expect in protocols.items():
            if (artifact, protocol) not in reports:
                checks.append(Check(f"{artifact} {protocol} AP on {running_class}",
                                    f"{expect['ap']:.4f} ± {expect['tolerance']}", "missing report", "-", "FAIL",
                                    [f"no reports/{artifact}-{protocol}.json"]))  # fmt: skip
    return checks + accuracy_bounds(reports, problems)


def agreement_check(label: str, machine_class: str, section: dict[str, Any] | None, expect: dict[str, Any] | None,
                    measured: float, problem: str | None, provenance_now: dict[str, Any]) -> Check:  # fmt: skip
    """One run's agreement with the FP32 IR against its class's expectation."""
    wanted = f"{expect['agreement']:.4f} ± {expect['tolerance']}" if expect else "-"
    if problem:
        return Check(label, wanted, "not comparable", "-", "FAIL", [problem])
    shown = f"{measured:.4f}"
    if section is None:
        return Check(label, f"no {machine_class} section", shown, "-", "unchecked")
    if expect is None:
        return Check(label, "not in baseline", shown, "-", "new")
    delta = measured - expect["agreement"]
    verdict = "FAIL" if delta < -expect["tolerance"] else "better" if delta > expect["tolerance"] else "pass"
    causes = provenance_changes(expect.get("provenance"), provenance_now) if verdict == "FAIL" else []
    return Check(label, wanted, shown, f"{delta:+.4f}", verdict, causes)


def check_agreement(
    baseline: dict[str, Any], reports: Reports, problems: dict, running_class: str | None = None
) -> list[Check]:
    """Every INT8 and bf16 run's agreement with the FP32 IR, scored again from its results and the FP32
    IR's (validate.accuracy.agreement_reports), against the section of the class it was measured on
    (unchecked where the baseline has none). A row the section of `running_class` expects but no
    report holds fails."""
    scorer = ReportScorer()
    checks = []
    for (artifact, protocol), (path, report) in sorted(reports.items()):
        if artifact == REFERENCE or not machine_dependent(artifact) or report["model"] != baseline["model"]:
            continue
        machine_class = report["machine"]["class"]
        section = baseline["classes"].get(machine_class)
        expect = ((section or {}).get("agreement") or {}).get(artifact, {}).get(protocol)
        reference = reports.get((REFERENCE, protocol))
        measured, problem = 0.0, problems[(artifact, protocol)]
        if problem is None and reference is None:
            problem = f"no reports/{reference_report(protocol)} to score its agreement against"
        elif problem is None and problems[(REFERENCE, protocol)]:
            problem = f"{reference[0].name}: {problems[(REFERENCE, protocol)]}"
        elif problem is None:
            try:
                measured, _ = rescored(scorer, path, report, reference[0])
            except PoseforgeError as exc:
                problem = str(exc)
        label = f"{artifact} {protocol} agreement on {machine_class}"
        now = agreement_provenance(report, reference[1]) if reference else provenance(report)
        checks.append(agreement_check(label, machine_class, section, expect, measured, problem, now))
    expected = (baseline["classes"].get(running_class or "") or {}).get("agreement") or {}
    for artifact, protocols in expected.items():
        for protocol, expect in protocols.items():
            if (artifact, protocol) not in reports:
                checks.append(Check(f"{artifact} {protocol} agreement on {running_class}",
                                    f"{expect['agreement']:.4f} ± {expect['tolerance']}", "missing report", "-",
                                    "FAIL", [f"no reports/{artifact}-{protocol}.json"]))  # fmt: skip
    return checks


def accuracy_bounds(reports: Reports, problems: dict) -> list[Check]:
    """Machine-independent: each machine-dependent run of ours within its tolerance of the FP32 IR's
    AP (f32) under the same protocol, measured in the same run of the same class. Intel's release
    is a reference, not ours to bound. The native protocol at other heights than the deploy height
    is left out: INT8 is calibrated at the deploy shape and loses about its tolerance at taller inputs
    (a measured price, report.md's height table); its rows are judged against their class's section."""
    checks = []
    for (artifact, protocol), (_, report) in sorted(reports.items()):
        reference = reports.get((REFERENCE, protocol))
        known = BY_NAME.get(base_name(artifact))
        if not machine_dependent(artifact) or reference is None or (known is not None and not known.ours):
            continue
        if split_protocol_key(protocol)[1] not in (None, DEFAULT_HEIGHT):
            continue
        if problems[(artifact, protocol)] or problems[(REFERENCE, protocol)]:
            continue  # already a FAIL of its own
        tolerance = ap_tolerance(artifact)
        name = f"{artifact} {protocol} AP - {REFERENCE} (bound, any class)"
        if reference[1]["machine"]["class"] != report["machine"]["class"]:
            checks.append(Check(name, f">= -{tolerance}", "not comparable", "-", "FAIL",
                                [f"measured on {report['machine']['class']}, {REFERENCE} on "
                                 f"{reference[1]['machine']['class']}"]))  # fmt: skip
            continue
        delta = report["ap"] - reference[1]["ap"]
        checks.append(Check(name, f">= -{tolerance}", f"{delta:+.4f}", "-", "FAIL" if delta < -tolerance else "pass",
                            [f"{artifact} loses more than {tolerance} AP to {REFERENCE}"] if delta < -tolerance
                            else []))  # fmt: skip
    return checks


def stale_bench(model_dir: Path, bench: dict[str, Any]) -> list[str]:
    """What changed since the bench measured: an artifact now another version, or gone."""
    causes = []
    for name, digest in bench["artifacts"].items():
        known = BY_NAME.get(base_name(name))
        path = model_dir / known.file if known is not None else None
        if path is None or not path.is_file():
            causes.append(f"stale: {BENCH_FILE} measured {name}, which is not in {model_dir}")
        elif artifact_digest(path) != digest:
            causes.append(f"stale: {BENCH_FILE} measured another version of {path}: run `make bench`")
    return causes


def ratio_check(label: str, name: str, expect: dict[str, Any], bench: dict[str, Any]) -> Check:
    target = GATED[name]
    wanted = f"{expect['expected']:.3f} ± {expect['tolerance']:.0%}"
    if name not in bench["ratios"]:
        return Check(label, wanted, "not measured", "-", "FAIL", [f"{BENCH_FILE} has no {name}"])
    value = bench["ratios"][name]
    change = float(target.shown(value)) / expect["expected"] - 1
    worse = -change if expect["better"] == "higher" else change
    verdict = "FAIL" if worse > expect["tolerance"] else "better" if -worse > expect["tolerance"] else "pass"
    causes = []
    if verdict == "FAIL":
        changed = [run for run, digest in expect["artifacts"].items() if bench["artifacts"].get(run) != digest]
        causes = [f"other bytes of {', '.join(changed)} than the baseline measured" if changed else
                  f"the same artifact bytes: the machine ({bench['machine']['cpu']}) or its load"]  # fmt: skip
    return Check(label, wanted, target.shown(value), f"{change:+.1%}", verdict, causes)


def check_ratios(baseline: dict[str, Any], bench: dict[str, Any] | None, model_dir: Path) -> list[Check]:
    """The bench's ratios against its class's section (unchecked where it has none), then every
    target's machine-independent bound."""
    if bench is None:
        names = sorted({n for section in baseline["classes"].values() for n in section["ratios"]})
        return [Check(f"{n} speed ratio", "-", "no bench.json", "-", "FAIL", [f"no {BENCH_FILE}: run `make bench`"])
                for n in names or sorted(GATED)]  # fmt: skip
    machine_class = bench["machine"]["class"]
    if bench["model"] != baseline["model"]:
        problem = [f"bench of model {bench['model']}, baseline of {baseline['model']}"]
    else:
        problem = stale_bench(model_dir, bench)
    section = baseline["classes"].get(machine_class)
    checks = []
    for name in sorted(section["ratios"] if section else GATED):
        label = f"{name} on {machine_class} ({GATED[name].better if name in GATED else '?'} is better)"
        if name not in GATED:
            checks.append(Check(label, "-", "not comparable", "-", "FAIL", [f"{name} is not a gated speed target"]))
        elif problem:
            checks.append(Check(label, "-", "not comparable", "-", "FAIL", problem))
        elif section is None:
            value = bench["ratios"].get(name)
            shown = GATED[name].shown(value) if value is not None else "not measured"
            checks.append(Check(label, f"no {machine_class} section", shown, "-", "unchecked"))
        else:
            checks.append(ratio_check(label, name, section["ratios"][name], bench))
    if problem:
        return checks
    for target in TARGETS:
        if target.bound is None or target.name not in bench["ratios"]:
            continue
        value = bench["ratios"][target.name]
        holds = target.within_bound(value)
        checks.append(Check(f"{target.name} (bound, any class)", target.bounded, target.shown(value), "-",
                            "pass" if holds else "FAIL", [] if holds else [f"{target.meaning} outside its bound "
                            "on any machine"]))  # fmt: skip
    return checks


def measured_classes(reports: Reports, bench: dict[str, Any] | None) -> list[str]:
    classes = {report["machine"]["class"] for _, report in reports.values()}
    if bench is not None:
        classes.add(bench["machine"]["class"])
    return sorted(classes)


def run_gate(model_dir: str | Path, baseline_path: str | Path, allow_subset: bool = False) -> GateResult:
    baseline = read_baseline(baseline_path)
    reports = read_reports(model_dir)
    if not reports:
        raise PoseforgeError(f"no reports in {Path(model_dir) / 'reports'}: the gate cannot pass")
    bench = read_bench(model_dir)
    classes = measured_classes(reports, bench)
    running = bench["machine"]["class"] if bench is not None else classes[0]
    problems = report_problems(baseline, reports, Path(model_dir), allow_subset)
    checks = check_accuracy(baseline, reports, problems, running)
    checks += check_agreement(baseline, reports, problems, running)
    checks += check_ratios(baseline, bench, Path(model_dir))
    return GateResult(checks, classes, [c for c in classes if c not in baseline["classes"]])


# --- writing a baseline -------------------------------------------------------------------------------
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


def upgrade_baseline(old: dict[str, Any]) -> dict[str, Any]:
    """A poseforge.baseline/2 (one machine's figures for every row) as /3: its exact artifacts'
    AP kept for every class, its INT8 and bf16 AP and its ratios as the section of the class its
    `measured_on` machine was (x86, from the ISA flags it recorded)."""
    machine = old["measured_on"]["machine"]
    tier = native_tier(set(machine["isa"]), "x86_64")
    cores = machine.get("cores") or 1
    machine_class = f"{tier}-{cores}c"
    exact = {a: ps for a, ps in old["accuracy"].items() if not machine_dependent(a)}
    dependent = {a: ps for a, ps in old["accuracy"].items() if machine_dependent(a)}
    for protocols in old["accuracy"].values():
        for entry in protocols.values():
            if entry.get("provenance"):
                entry["provenance"].setdefault("machine_class", machine_class)
                entry["provenance"].setdefault("cpu", machine["cpu"])
    digests = {a: next(iter(ps.values()))["provenance"]["artifact_sha256"] for a, ps in old["accuracy"].items()
               if next(iter(ps.values())).get("provenance")}  # fmt: skip
    ratios = {}
    for name, entry in old["ratios"].items():
        uses = TARGETS_BY_NAME[name].uses if name in TARGETS_BY_NAME else ()
        ratios[name] = {**entry, "artifacts": {run: digests[run] for run in uses if run in digests}}
    section = {
        "machine": {**machine, "class": machine_class, "tier": tier},
        "accuracy": dependent,
        "ratios": ratios,
        "versions": old["measured_on"].get("versions", {}),
        "recorded": old.get("created"),
    }
    return {**{k: v for k, v in old.items() if k not in ("ratios", "measured_on", "created")}, "schema": SCHEMA,
            "accuracy": exact, "classes": {machine_class: section}}  # fmt: skip


def read_previous_baseline(path: str | Path) -> dict[str, Any] | None:
    """The baseline `make baseline` updates: /3 as is, /2 upgraded (its machine's section kept),
    None if absent or unreadable (then written afresh, default tolerances)."""
    from poseforge.documents import parse_json

    if not Path(path).is_file():
        return None
    try:
        return read_baseline(path)
    except PoseforgeError:
        pass
    try:
        old = parse_json(path, "baseline", BASELINE.max_bytes)
        if isinstance(old, dict) and old.get("schema") == "poseforge.baseline/2":
            return upgrade_baseline(old)
    except (PoseforgeError, KeyError, TypeError, AttributeError):
        pass
    return None


def make_baseline(
    model_dir: str | Path, previous: dict[str, Any] | None = None, allow_subset: bool = False
) -> dict[str, Any]:
    """A baseline from the current reports and bench: exact artifacts' AP for every class, and this
    class's section (INT8 and bf16 AP, speed ratios) added or replaced; other classes' sections kept.
    The tolerances of `previous` are kept where it has them."""
    rows = comparable_reports(model_dir, allow_subset)
    first = rows[0][3]
    bench = read_bench(model_dir)
    if bench is None:
        raise PoseforgeError(
            f"no {Path(model_dir) / BENCH_FILE}: run `make bench` first (the speed ratios come from it)"
        )
    if stale := stale_bench(Path(model_dir), bench):
        raise PoseforgeError(f"{Path(model_dir) / BENCH_FILE} is {stale[0].removeprefix('stale: ')}")
    machine_class = bench["machine"]["class"]
    previous = previous or {}
    old_section = previous.get("classes", {}).get(machine_class, {})
    accuracy: dict[str, dict[str, Any]] = {}
    class_accuracy: dict[str, dict[str, Any]] = {}
    class_agreement: dict[str, dict[str, Any]] = {}
    scorer = ReportScorer()
    references = {protocol: (path, report) for artifact, protocol, path, report in rows if artifact == REFERENCE}
    for artifact, protocol, path, report in rows:
        rederived(path, report, scorer.datasets)  # a baseline never records a figure its results do not give
        dependent = machine_dependent(artifact)
        if dependent and report["machine"]["class"] != machine_class:
            raise PoseforgeError(f"{path} was measured on {report['machine']['class']}, {BENCH_FILE} on "
                                 f"{machine_class}: a class's section comes from one machine")  # fmt: skip
        old = (old_section if dependent else previous).get("accuracy", {}).get(artifact, {}).get(protocol, {})
        (class_accuracy if dependent else accuracy).setdefault(artifact, {})[protocol] = {
            "ap": round(report["ap"], 4), "tolerance": old.get("tolerance", ap_tolerance(artifact)),
            "images": report["images"], "provenance": provenance(report),
        }  # fmt: skip
        if dependent and artifact != REFERENCE and protocol in references:
            reference_path, reference = references[protocol]
            value, people = rescored(scorer, path, report, reference_path)
            old = old_section.get("agreement", {}).get(artifact, {}).get(protocol, {})
            class_agreement.setdefault(artifact, {})[protocol] = {
                "agreement": round(value, 4), "tolerance": old.get("tolerance", AGREEMENT_TOLERANCE),
                "images": report["images"], "people": people, "provenance": agreement_provenance(report, reference),
            }  # fmt: skip
    ratios = {}
    for name, value in bench["ratios"].items():
        if name in GATED:
            target = GATED[name]
            tolerance = old_section.get("ratios", {}).get(name, {}).get("tolerance", target.gate_tolerance)
            ratios[name] = {"expected": round(value, 4), "tolerance": tolerance, "better": target.better,
                            "description": target.meaning,
                            "artifacts": {run: bench["artifacts"][run] for run in target.uses}}  # fmt: skip
    classes = dict(previous.get("classes", {}))
    classes[machine_class] = {
        "machine": bench["machine"],
        "accuracy": class_accuracy,
        "agreement": class_agreement,
        "ratios": ratios,
        "precision_hint": first["precision_hint"],
        "threads": bench["threads"],
        "versions": bench["versions"],
        "recorded": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
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
        "classes": dict(sorted(classes.items())),
    }


def baseline_changes(old: dict[str, Any] | None, new: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(entry, old value, new value) for everything that differs."""

    def flat(baseline: dict[str, Any] | None) -> dict[str, str]:
        if not baseline:
            return {}
        out = {f"{a} {p} AP": f"{e['ap']:.4f} ± {e['tolerance']}" for a, ps in baseline["accuracy"].items()
               for p, e in ps.items()}  # fmt: skip
        for machine_class, section in baseline["classes"].items():
            out.update({f"{a} {p} AP on {machine_class}": f"{e['ap']:.4f} ± {e['tolerance']}"
                        for a, ps in section["accuracy"].items() for p, e in ps.items()})  # fmt: skip
            out.update({f"{a} {p} agreement on {machine_class}": f"{e['agreement']:.4f} ± {e['tolerance']}"
                        for a, ps in section.get("agreement", {}).items() for p, e in ps.items()})  # fmt: skip
            out.update({f"{n} on {machine_class}": f"{e['expected']:.3f} ± {e['tolerance']:.0%}"
                        for n, e in section["ratios"].items()})  # fmt: skip
        out["image set"] = f"{baseline['dataset'].get('name', '?')} ({baseline['dataset']['images']} images)"
        return out

    before, after = flat(old), flat(new)
    return [(k, before.get(k, "-"), after.get(k, "-")) for k in sorted(before.keys() | after.keys())
            if before.get(k) != after.get(k)]  # fmt: skip


def write_baseline(
    model_dir: str | Path, path: str | Path, allow_subset: bool = False
) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    previous = read_previous_baseline(path)
    # Claimed now: a file the baseline is made from (a report, its results, bench.json) is then refused
    # as it is read, not after the scoring; a baseline is replaced on purpose (what write_document accepts).
    claim(path, owned=lambda _: previous is not None)
    baseline = make_baseline(model_dir, previous, allow_subset)
    write_document(path, BASELINE, baseline, older=lambda existing: read_previous_baseline(existing) is not None)
    return baseline, baseline_changes(previous, baseline)
