"""Interleaved rounds on real networks: the order alternates (A B, then B A), and every figure a
bench file derives from its rounds is recomputed from them."""

from __future__ import annotations

import json
from pathlib import Path

from poseforge.validate.speed.interleaved import Entry, measure_interleaved, rounds_problem
from poseforge.validate.speed.tiers import measure_round


def test_rounds_alternate_their_order(gate_build: Path) -> None:
    fp32, int8 = gate_build / "ir/fp32/model.xml", gate_build / "ir/int8/model.xml"
    said: list[str] = []
    entries = [Entry("a", fp32), Entry("b", int8)]
    measure_interleaved(entries, (1, 3, 64, 64), iterations=1, seconds=0.05, rounds=3, report=said.append)
    assert [line.split()[2].rstrip(":") for line in said] == ["a", "b", "b", "a", "a", "b"]
    assert all(len(entry.runs) == 3 for entry in entries)
    # A tier's (or a fleet node's) round keeps the runs' names in their order whichever way it measured them.
    runs = {"ir-fp32": (str(fp32), "f32"), "ir-int8": (str(int8), "f32")}
    assert list(measure_round(runs, [1, 3, 64, 64], 1, 0.05, number=2)) == ["ir-fp32", "ir-int8"]


def test_a_figure_its_rounds_do_not_give_is_named(gate_build: Path) -> None:
    bench = json.loads((gate_build / "bench.json").read_text())
    assert rounds_problem(bench["speed"], bench["ratios"], bench["rounds"]) is None
    speed = {name: dict(row) for name, row in bench["speed"].items()}
    speed["ir-int8"]["throughput_over_fp32"] *= 1.01
    assert "ir-int8's throughput over ir-fp32 is not what its rounds give" in rounds_problem(
        speed, bench["ratios"], bench["rounds"]
    )
    ratios = {**bench["ratios"], "int8_over_fp32_throughput": bench["ratios"]["int8_over_fp32_throughput"] + 0.01}
    assert "int8_over_fp32_throughput" in rounds_problem(bench["speed"], ratios, bench["rounds"])
    assert "has 2 rounds where the file says 3" in rounds_problem(bench["speed"], bench["ratios"], 3)
