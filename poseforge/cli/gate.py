"""Commands of the gate: the latest reports against the committed baseline, and rewriting it."""

from __future__ import annotations

import argparse
from typing import Any

from poseforge.cli.common import Command, add_allow_subset, wrote
from poseforge.errors import PoseforgeError
from poseforge.text import plural


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_dir", help="build/<model> (reads its reports/*.json and bench.json)")
    p.add_argument("--baseline", required=True, help="baselines/<model>.json")
    add_allow_subset(p)


def _gate(args: argparse.Namespace) -> None:
    from rich.table import Table

    from poseforge.ui import console
    from poseforge.validate.gate import CLAIM, run_gate

    result = run_gate(args.model_dir, args.baseline, args.allow_subset)
    checks, failed, unchecked = result.checks, result.failed, result.unchecked
    classes = ", ".join(f"{c} (not in the baseline)" if c in result.missing_classes else c for c in result.classes)
    table = Table(title=f"accuracy gate: {args.model_dir} against {args.baseline}, measured on {classes}")
    for column in ("check", "expected", "measured", "delta", "verdict"):
        table.add_column(column, justify="left" if column == "check" else "right")
    styles = {"FAIL": "bold red", "better": "green", "new": "yellow", "unchecked": "yellow"}
    for c in checks:
        table.add_row(c.name, c.expected, c.measured, c.delta, c.verdict, style=styles.get(c.verdict))
        for cause in c.causes:
            table.add_row(f"  because: {cause}", "", "", "", "", style="red")
    out = console()
    out.print(table)
    if any(c.verdict in ("better", "new") for c in checks):
        out.print("some figures beat or are missing from the baseline: `make baseline` records them on purpose")
    out.print(f"The gate is {CLAIM}.")
    verdict = f"{len(checks) - len(failed) - len(unchecked)} of {plural(len(checks), 'check')} hold"
    if unchecked:
        verdict += (f"; {len(unchecked)} unchecked: the baseline has no section for "
                    f"{', '.join(result.missing_classes)} (exact accuracy and the machine-independent bounds are "
                    "checked; `make baseline` on this machine adds its section)")  # fmt: skip
    out.print(verdict + (f"; {len(failed)} FAILED" if failed else ""))
    if failed:
        shown = ", ".join(c.name for c in failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")
        raise PoseforgeError(f"accuracy gate failed against {args.baseline}: {shown} (causes in the table)")


def _baseline(args: argparse.Namespace) -> None:
    from poseforge.validate.gate import write_baseline

    written, changes = write_baseline(args.model_dir, args.baseline, args.allow_subset)
    exact = sum(len(p) for p in written["accuracy"].values())
    dataset = written["dataset"]

    def entries(section: dict[str, Any], kind: str, what: str) -> str:
        return plural(sum(len(p) for p in section.get(kind, {}).values()), f"{what} entry", f"{what} entries")

    sections = "; ".join(f"{name}: {entries(s, 'accuracy', 'AP')}, {entries(s, 'agreement', 'agreement')}, "
                         f"{plural(len(s['ratios']), 'ratio')}" for name, s in written["classes"].items())  # fmt: skip
    wrote(args.baseline, f"{plural(exact, 'exact AP entry', 'exact AP entries')}, {plural(dataset['images'], 'image')} "
                         f"of {dataset['name']}; per machine class: {sections}")  # fmt: skip
    for entry, before, after in changes:
        print(f"  {entry}: {before} -> {after}")
    if not changes:
        print("  no change")


COMMANDS = (
    Command("gate", "gate", "compare the latest reports with the committed baseline; non-zero exit on regression",
            _arguments, _gate, "One table: expected, measured, delta, verdict for every artifact's AP under each "
            "protocol and for the speed ratios that matter, with the cause under every FAIL. Exact artifacts are "
            "checked on every machine; INT8 and bf16 AP and speed ratios against the section of the machine class "
            "they were measured on (unchecked where the baseline has none), and machine-independent bounds "
            "always. Closed by construction: every AP is re-derived from its results file; a missing or "
            "unreadable report, a subset, other images, annotations, model or artifact version than the "
            "baseline's is a failure."),
    Command("baseline", "gate", "update the baseline from the latest reports: exact AP, and this machine class's "
            "section (other classes kept), showing what changed", _arguments, _baseline),
)  # fmt: skip
