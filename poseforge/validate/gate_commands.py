"""The `gate` and `baseline` commands: the gate's checks as one table."""

from __future__ import annotations

from pathlib import Path

from poseforge.ui import console
from poseforge.validate.gate import run_gate, write_baseline


def gate_command(model_dir: str | Path, baseline: str | Path) -> bool:
    """Print the gate table; True when nothing regressed."""
    from rich.table import Table

    checks = run_gate(model_dir, baseline)
    failed = [c for c in checks if c.failed]
    table = Table(title=f"accuracy gate: {model_dir} against {baseline}")
    for column in ("check", "expected", "measured", "delta", "verdict"):
        table.add_column(column, justify="left" if column == "check" else "right")
    styles = {"FAIL": "bold red", "better": "green", "new": "yellow"}
    for c in checks:
        table.add_row(c.name, c.expected, c.measured, c.delta, c.verdict, style=styles.get(c.verdict))
    out = console()
    out.print(table)
    if any(c.verdict in ("better", "new") for c in checks):
        out.print("some figures beat or are missing from the baseline: `make baseline` records them on purpose")
    out.print(
        f"{len(checks) - len(failed)} of {len(checks)} checks hold" + (f"; {len(failed)} FAILED" if failed else "")
    )
    return not failed


def baseline_command(model_dir: str | Path, baseline: str | Path) -> None:
    written, changes = write_baseline(model_dir, baseline)
    print(f"wrote {baseline} ({sum(len(p) for p in written['accuracy'].values())} AP entries, "
          f"{len(written['ratios'])} ratios)")  # fmt: skip
    for entry, before, after in changes:
        print(f"  {entry}: {before} -> {after}")
    if not changes:
        print("  no change")
