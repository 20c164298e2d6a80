"""report.md's height table: each IR's AP per native input height, with its interval and its paired
difference to the default height, beside the fps bench timed at that height's native shape of a
640x480 frame in its one interleaved run."""

from __future__ import annotations

import json
from pathlib import Path

from poseforge.artifacts import DEFAULT_HEIGHT
from poseforge.preprocess import native_width
from poseforge.validate.reporting.report import write_report
from tests.validate.conftest import HEIGHT, linked_copy


def test_the_height_table_gives_accuracy_and_speed_per_height(height_build: Path, tmp_path: Path) -> None:
    model_dir = linked_copy(height_build, tmp_path)
    write_report(model_dir)
    text = (model_dir / "report.md").read_text()
    bench = json.loads((model_dir / "bench.json").read_text())
    reports = {p.stem: json.loads(p.read_text()) for p in (model_dir / "reports").glob("*.json")}
    assert "## Input height: accuracy against speed" in text and "interleaved run" in text
    section = text.split("## Input height")[1].split("\n## ")[0]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| ir-")]
    assert [(r[0], r[1]) for r in rows] == [("| ir-fp32", "256"), ("| ir-fp32", "320"), ("| ir-int8", "256"),
                                            ("| ir-int8", "320")]  # fmt: skip
    for row in rows:
        name, height = row[0].removeprefix("| "), int(row[1])
        key = "native" if height == DEFAULT_HEIGHT else f"native@{height}"
        speed = bench["heights"]["runs"][name][str(height)]
        assert speed["shape"] == [1, 3, height, native_width((480, 640), height)]  # 256x344, 320x432
        assert row[2] == f"{height}x{native_width((480, 640), height)}"
        assert row[3].startswith(f"{reports[f'{name}-{key}']['ap']:.3f} [")  # AP and its interval
        assert (
            row[5] == f"{speed['throughput_fps']:.1f}"
            and row[6].rstrip(" |") == f"{speed['throughput_over_default']:.3f}"
        )
        if height == DEFAULT_HEIGHT:
            assert row[4] == "reference" and speed["throughput_over_default"] == 1.0
        else:  # the paired difference to the same IR at the default height, on the same images
            assert row[4].startswith(("+", "-")) and "[" in row[4]
    assert f"| ir-fp32 | native@{HEIGHT} |" in text  # and a row of the main table, like any run
    assert (model_dir / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
