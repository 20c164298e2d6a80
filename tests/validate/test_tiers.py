"""`bench --tiers` on a small case: each tier in its own process standing in for it, its IRs
measured and its machine-dependent runs validated there, the paired differences, the report's
table; and report.md agreeing with bench.json on every ratio both show."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from poseforge.documents import TIERS, read_document
from poseforge.errors import PoseforgeError
from poseforge.machine import BY_TIER, machine_info, standin_tiers
from poseforge.validate.reporting.report import write_report
from poseforge.validate.speed.bench import judge
from poseforge.validate.speed.interleaved import THROUGHPUT_PAIRS
from poseforge.validate.speed.targets import BY_NAME
from poseforge.validate.speed.tiers import TIERS_FILE, read_tiers, run_tiers


@pytest.fixture
def model_dir(gate_build: Path, tmp_path: Path) -> Path:
    copy = tmp_path / gate_build.name
    shutil.copytree(gate_build / "reports", copy / "reports")
    shutil.copy(gate_build / "bench.json", copy / "bench.json")
    (copy / "ir").mkdir()
    for precision in ("fp32", "int8"):
        (copy / "ir" / precision).symlink_to(gate_build / "ir" / precision)
    return copy


def test_the_lowest_tier_runs_in_its_own_process(model_dir: Path, gate_build: Path) -> None:
    tier = standin_tiers()[0]
    output = model_dir / TIERS_FILE
    result = run_tiers(model_dir, gate_build.parent / "coco", output, seconds=0.3, rounds=1)
    assert read_document(output, TIERS) == json.loads(output.read_text())
    entry = result["tiers"][tier]
    emulated = tier != machine_info()["tier"]
    assert entry["emulated"] == emulated
    assert entry["class"] == f"{tier}-{machine_info()['cores']}c" + ("-emulated" if emulated else "")
    assert entry["environment"] == ({"ONEDNN_MAX_CPU_ISA": BY_TIER[tier].cap} if emulated else {})
    assert set(entry["speed"]) >= {"ir-fp32", "ir-int8"} and entry["speed"]["ir-fp32"]["throughput_over_fp32"] == 1
    assert entry["ratios"]["int8_over_fp32_throughput"] > 0
    # Validated in the tier's process: a real report, recording that tier's class.
    report = json.loads(Path(entry["accuracy"]["ir-int8"]["report"]).read_text())
    assert report["machine"]["class"] == entry["class"] and report["ap"] == entry["accuracy"]["ir-int8"]["ap"]
    assert "ir-int8 - ir-fp32" in entry["differences"]
    assert read_tiers(model_dir)["tiers"].keys() == result["tiers"].keys()
    text = write_report(model_dir)[0].read_text()
    assert f"### {tier}" in text and ("(emulated)" in text) == emulated
    # Measured with --no-validate: no dataset, no AP; the report says so instead of failing.
    speed_only = json.loads(output.read_text())
    speed_only["dataset"] = None
    for each in speed_only["tiers"].values():
        each["accuracy"], each["differences"] = {}, {}
    output.write_text(json.dumps(speed_only))
    assert "speed only (measured with --no-validate" in write_report(model_dir)[0].read_text()
    # A ratio edited after the run is not what the file's rounds give: refused, not reported.
    forged = json.loads(output.read_text())
    forged["tiers"][tier]["ratios"]["int8_over_fp32_throughput"] *= 1.5
    output.write_text(json.dumps(forged))
    with pytest.raises(PoseforgeError, match=f"{tier}: int8_over_fp32_throughput .* is not what its rounds give"):
        read_tiers(model_dir)


def test_report_md_and_bench_json_agree_on_every_ratio(model_dir: Path) -> None:
    bench = json.loads((model_dir / "bench.json").read_text())
    text = write_report(model_dir)[0].read_text()
    speed = text[text.index("## Speed") :].split("\n## ")[0]
    rows = {line.split("|")[1].strip(): line for line in speed.splitlines() if line.startswith("| ")}
    for name, run in bench["speed"].items():
        cells = [c.strip() for c in rows[name].split("|")]
        assert cells[4] == f"{run['throughput_fps']:.1f}" and cells[5] == f"{run['throughput_over_fp32']:.3f}"
    assert rows["ir-int8"].split("|")[5].strip() == BY_NAME["int8_over_fp32_throughput"].shown(
        bench["ratios"]["int8_over_fp32_throughput"]
    )
    for target, value, holds in judge(bench):
        cells = [c.strip() for c in rows[target.meaning].split("|")]
        measured = target.shown(value)
        if target.name in THROUGHPUT_PAIRS:  # an interleaved ratio also shows its range over the rounds
            a, b = (bench["speed"][run]["throughput_fps_by_round"] for run in THROUGHPUT_PAIRS[target.name])
            per_round = [x / y for x, y in zip(a, b, strict=True)]
            measured += f" (rounds {min(per_round):.3f}-{max(per_round):.3f})"
        assert cells[2] == measured and cells[4] == ("yes" if holds else "NO")
    assert "(rounds " in rows[BY_NAME["int8_over_fp32_throughput"].meaning]
    assert f"machine class **{bench['machine']['class']}**" in text
