"""`poseforge sweep` run again: a cached row's figures that its report's results give are taken from them
again, never from its row.json, and its name is the settings file's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from poseforge.errors import PoseforgeError
from poseforge.quantize.sweep import REPORT, ROW_FILE, in_process, run_sweep
from poseforge.quantize.sweep_settings import read_sweep
from tests.validate.conftest import SMALL_SWEEP, make_coco

ROW = '\n[[rows]]\nname = "{name}"\npreset = "mixed"\n'


def test_a_cached_row_is_scored_again_from_its_report(omz_build: Path, assets: Path, tmp_path: Path) -> None:
    coco, out = make_coco(tmp_path / "coco", assets, 2), tmp_path / "out"
    settings = tmp_path / "sweep.toml"
    base = SMALL_SWEEP.format(fp32=omz_build / "ir" / "fp32" / "model.xml", coco=coco)
    settings.write_text(base + ROW.format(name="mixed"))
    (first,) = run_sweep(read_sweep(settings, assets), out, in_process, say=lambda _: None)["rows"]
    (row_file,) = out.glob(f"rows/*/{ROW_FILE}")
    edited = json.loads(row_file.read_text())
    edited["row"].update(ap=0.99, difference={"ap": 0.5, "low": 0.4, "high": 0.6}, agreement=None)
    row_file.write_text(json.dumps(edited))
    settings.write_text(base + ROW.format(name="mixed, renamed"))

    (again,) = run_sweep(read_sweep(settings, assets), out, in_process, say=lambda _: None)["rows"]
    assert again["name"] == "mixed, renamed"
    for key in ("ap", "interval", "difference", "agreement", "scored_on", "throughput_fps"):
        assert again[key] == first[key], key

    report = row_file.parent / REPORT
    forged = json.loads(report.read_text())
    forged["ap"] = 0.99
    report.write_text(json.dumps(forged))
    with pytest.raises(PoseforgeError, match=f"{report} says ap 0.9900 but its results score"):
        run_sweep(read_sweep(settings, assets), out, in_process, say=lambda _: None)
