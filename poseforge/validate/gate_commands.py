"""The `gate` and `baseline` commands: the gate's checks as one table, causes under each FAIL."""

from __future__ import annotations

from pathlib import Path

from poseforge.ui import console
from poseforge.validate.gate import CLAIM, run_gate, write_baseline


def gate_command(model_dir: str | Path, baseline: str | Path, allow_subset: bool = False) -> list[str]:
    """Print the gate table; the failed checks' names (empty when nothing regressed)."""
    from rich.table import Table

    checks = run_gate(model_dir, baseline, allow_subset)
    failed = [c for c in checks if c.failed]
    table = Table(title=f"accuracy gate: {model_dir} against {baseline}")
    for column in ("check", "expected", "measured", "delta", "verdict"):
        table.add_column(column, justify="left" if column == "check" else "right")
    styles = {"FAIL": "bold red", "better": "green", "new": "yellow"}
    for c in checks:
        table.add_row(c.name, c.expected, c.measured, c.delta, c.verdict, style=styles.get(c.verdict))
        for cause in c.causes:
            table.add_row(f"  because: {cause}", "", "", "", "", style="red")
    out = console()
    out.print(table)
    if any(c.verdict in ("better", "new") for c in checks):
        out.print("some figures beat or are missing from the baseline: `make baseline` records them on purpose")
    out.print(f"The gate is {CLAIM}.")
    out.print(
        f"{len(checks) - len(failed)} of {len(checks)} checks hold" + (f"; {len(failed)} FAILED" if failed else "")
    )
    return [c.name for c in failed]


def baseline_command(model_dir: str | Path, baseline: str | Path, allow_subset: bool = False) -> None:
    written, changes = write_baseline(model_dir, baseline, allow_subset)
    entries = sum(len(p) for p in written["accuracy"].values())
    dataset = written["dataset"]
    print(f"wrote {baseline} ({entries} AP entries, {len(written['ratios'])} ratios, {dataset['images']} images of "
          f"{dataset['name']})")  # fmt: skip
    for entry, before, after in changes:
        print(f"  {entry}: {before} -> {after}")
    if not changes:
        print("  no change")
