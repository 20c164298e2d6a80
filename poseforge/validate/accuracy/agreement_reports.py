"""Agreement with the FP32 IR from validation reports: what report.md, the gate and `poseforge
agreement` show, always scored again from the results files, never read from a report.

    scorer = ReportScorer()
    report, matches = scorer.matches("reports/ir-int8-val.json", "reports/ir-fp32-val.json")
    table = agreement_table("val", {"ir-int8": matches, ...})   # intervals, and paired to Intel's INT8

Every file is checked as comparing reports checks it (report schema, results and annotations by
sha256), and the reference must be the FP32 IR's report under the same protocol on the same images.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from poseforge.artifacts import BY_NAME, INTEL_INT8, PROTOCOLS, REFERENCE, order, split_protocol_key
from poseforge.documents import same_figure
from poseforge.errors import PoseforgeError
from poseforge.text import plural
from poseforge.validate.accuracy.agreement import RULE, Reference, agreement, reference_problem
from poseforge.validate.accuracy.compare import report_results
from poseforge.validate.accuracy.intervals import ImageMatches, bootstrap_ap, interval_problem, paired_difference


def reference_report(key: str) -> str:
    """The file name of the report a run under protocol key `key` (artifacts.protocol_key) is scored against."""
    return f"{REFERENCE}-{key}.json"


class ReportScorer:
    """Runs' results matched against the results of their protocol's FP32 IR report (each reference
    read and turned into a ground truth once)."""

    def __init__(self) -> None:
        self.datasets: dict = {}  # annotations, by path (compare.report_results)
        self._references: dict[str, tuple[dict[str, Any], Reference]] = {}

    def reference(self, path: str | Path) -> tuple[dict[str, Any], Reference]:
        key = str(Path(path).resolve())
        if key not in self._references:
            report, results, image_ids, _ = report_results(path, self.datasets)
            self._references[key] = (report, Reference(results, image_ids))
        return self._references[key]

    def matches(
        self, path: str | Path, reference_path: str | Path, report: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], ImageMatches]:
        """The report at `path` (`report`, where the caller has read it), and its results matched
        against the reference report's poses."""
        report, results, _, _ = report_results(path, self.datasets, report)
        scored_against, reference = self.reference(reference_path)
        if problem := reference_problem(report, scored_against):
            raise PoseforgeError(f"{Path(reference_path).name} cannot be the reference of {Path(path).name}: {problem}")
        return report, reference.matches(results)


def field_problem(
    path: str | Path, report: dict[str, Any], reference: dict[str, Any], matches: ImageMatches
) -> str | None:
    """Why the agreement a report carries is not what its results give against `reference`, matched
    (`matches`): its figure, its reference people and its interval (an edited or stale report), or
    None (also when it carries none: nothing is claimed)."""
    field = report.get("agreement")
    if not field:
        return None
    name = Path(path).name
    if (field["reference"]["results_sha256"], field["reference"]["artifact_sha256"]) != (
            reference["results_sha256"], reference["artifact_sha256"]):  # fmt: skip
        return f"{name} was scored against another {REFERENCE} report than the current one: validate it again"
    value = agreement(matches)
    if value is None:
        return f"{name} says agreement {field['ap']:.4f} but {REFERENCE} finds nobody it counts on these images"
    if not same_figure(field["ap"], value):
        return f"{name} says agreement {field['ap']:.4f} but its results give {value:.4f} against {REFERENCE}"
    if field["people"] != matches.people:
        return f"{name} says agreement people {field['people']} but {REFERENCE}'s results count {matches.people}"
    if problem := interval_problem(field["interval"], matches):
        return f"{name} says agreement {problem}"
    return None


def agreement_table(
    protocol: str,
    matched: dict[str, ImageMatches],
    resamples: int,
    seed: int,
    versus: str = INTEL_INT8,
    **described: Any,
) -> dict[str, Any]:
    """Each run's agreement with its 95% interval, and every run's paired difference to `versus`
    (Intel's INT8 release by default; another INT8 settings' run to rank against) where it is among
    them (the same image resamples for both)."""
    if not matched:
        raise PoseforgeError(f"no run to score against {REFERENCE} under the {protocol} protocol")
    first = next(iter(matched.values()))
    if first.people == 0:
        raise PoseforgeError(f"{REFERENCE} finds no person it counts on these images ({RULE}): agreement is undefined")
    runs = {name: bootstrap_ap(m, resamples, seed).to_dict() for name, m in matched.items()}
    differences = {}
    if versus in matched:
        for name, m in matched.items():
            # An FP32 conversion differs from `versus` as the reference does: nothing to learn from it.
            if name != versus and not (name in BY_NAME and BY_NAME[name].precision == "fp32"):
                differences[f"{name} - {versus}"] = paired_difference(matched[versus], m, resamples, seed).to_dict()
    return {"protocol": protocol, **described, "images": len(first.image_ids), "people": first.people,
            "reference": REFERENCE, "rule": RULE, "runs": runs, "differences": differences}  # fmt: skip


def report_tables(
    rows: Iterable[tuple[str, str, Path]],
    resamples: int,
    seed: int,
    scorer: ReportScorer | None = None,
    versus: str = INTEL_INT8,
) -> list[dict[str, Any]]:
    """One agreement table per protocol from reports (run name, protocol, path) of one model on one
    image set: every run but the reference, against the reference report beside it."""
    scorer = scorer or ReportScorer()
    by_protocol: dict[str, dict[str, ImageMatches]] = {}
    image_set: dict[str, Any] = {}
    for name, protocol, path in rows:
        reference = Path(path).parent / reference_report(protocol)
        if name == REFERENCE or not reference.is_file():
            continue
        report, matches = scorer.matches(path, reference)
        by_protocol.setdefault(protocol, {})[name] = matches
        image_set = {"image_set": report["dataset"]["name"]}
    keys = sorted(by_protocol, key=lambda k: (PROTOCOLS.index(split_protocol_key(k)[0]), split_protocol_key(k)[1] or 0))
    ordered = {k: dict(sorted(by_protocol[k].items(), key=lambda run: order(run[0]))) for k in keys}
    return [
        agreement_table(protocol, matched, resamples, seed, versus, **image_set)
        for protocol, matched in ordered.items()
    ]


def rescored(scorer: ReportScorer, path: Path, report: dict[str, Any], reference_path: Path) -> tuple[float, int]:
    """A report's agreement with the FP32 IR and the reference people, scored again from both
    results files; refused (PoseforgeError) where the reference does not fit, has nobody to count,
    or the report's agreement (its figure, people or interval) is not what its results give."""
    _, matches = scorer.matches(path, reference_path, report)
    value = agreement(matches)
    if value is None:
        raise PoseforgeError(f"{REFERENCE} finds no person it counts on these images: agreement is undefined")
    if problem := field_problem(path, report, scorer.reference(reference_path)[0], matches):
        raise PoseforgeError(problem)
    return value, matches.people


def table_lines(table: dict[str, Any]) -> list[str]:
    """A table as `poseforge agreement` prints it."""
    where = table.get("image_set", "?")
    left_out = (f", {plural(table['left_out'], 'image')} left out (calibrated {', '.join(table['left_out_because'])})"
                if table.get("left_out") else "")  # fmt: skip
    first = next(iter(table["runs"].values()))
    lines = [
        f"{where}, {table['protocol']} protocol: {plural(table['images'], 'image')}{left_out}, {table['people']} "
        f"{REFERENCE} people as ground truth; {100 * first['level']:.0f}% intervals, {first['resamples']} image "
        f"resamples (seed {first['seed']})",
    ]
    width = max(len(name) for name in table["runs"])
    lines += [f"  {name:<{width}}  agreement {r['ap']:.4f} [{r['low']:.4f}, {r['high']:.4f}]"
              for name, r in table["runs"].items()]  # fmt: skip
    for label, d in table["differences"].items():
        verdict = "excludes 0" if d["low"] > 0 or d["high"] < 0 else "includes 0: not resolved"
        lines.append(f"  {label}: {d['ap']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}] (paired; {verdict})")
    return lines
