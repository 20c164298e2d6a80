"""`poseforge info`: a network's parameters and compute per part, as a table or JSON."""

from __future__ import annotations

import json
from typing import Any

from poseforge.analysis.complexity import CPM_PARTS, Complexity, Part, count, stages_config
from poseforge.models import get_spec

CONVENTION_NOTE = (
    'The Lightweight OpenPose paper\'s "GFLOPs" (Tables 2 and 5) are the GMACs column: it counts a '
    "multiply-accumulate as one operation (`poseforge paper` shows the comparison); GFLOPs = 2 x GMACs. "
    "Element-wise Gops (bias adds, activations, BatchNorm, pooling) are counted apart."
)


def info(model: str, input_hw: tuple[int, int], stages: int | None = None) -> dict[str, Any]:
    """The JSON document `info --json` prints."""
    complexity = count(model, input_hw, stages_config(model, stages))
    spec = get_spec(model)
    return {**complexity.to_json(), "description": spec.description, "weights": spec.weights}


def print_info(model: str, input_hw: tuple[int, int], stages: int | None = None, as_json: bool = False) -> None:
    if as_json:
        print(json.dumps(info(model, input_hw, stages), indent=2))
        return
    from rich.table import Table

    from poseforge.ui import console

    c = count(model, input_hw, stages_config(model, stages))
    spec = get_spec(model)
    refinement = c.stages - 1
    table = Table(
        title=f"{model} at {input_hw[0]}x{input_hw[1]} (HxW): {c.stages} stages (initial + {refinement} refinement), "
        f"{c.params:,} parameters"
    )
    for column in ("part", "params", "GMACs", "GFLOPs (2 x MACs)", "element-wise Gops", "share of MACs"):
        table.add_column(column, justify="left" if column == "part" else "right")
    for label, part in rows(c):
        table.add_row(
            label, f"{part.params:,}", f"{part.gmacs:.3f}", f"{part.gflops:.3f}",
            f"{part.other_ops / 1e9:.4f}", f"{part.macs / c.macs:.1%}",
        )  # fmt: skip
    out = console()
    out.print(table)
    out.print(f"{spec.description}. Weights: {spec.weights}.")
    out.print(CONVENTION_NOTE)


def rows(c: Complexity) -> list[tuple[str, Part]]:
    """Table rows: backbone, the CPM as the paper splits it, stages, CPM subtotal and total."""
    labels = {"backbone": "backbone", "conv4_3": "CPM: conv4_3", "conv4_4": "CPM: conv4_4", "initial": "initial stage"}
    out = [(labels.get(p.name, p.name.replace("refinement", "refinement stage")), p) for p in c.parts]
    cpm_at = next(i for i, (_, p) in enumerate(out) if p.name == CPM_PARTS[-1]) + 1
    out.insert(cpm_at, ("CPM (conv4_3 + conv4_4)", c.group(*CPM_PARTS)))
    out.append(("total", Part("total", c.params, c.macs, c.other_ops)))
    return out
