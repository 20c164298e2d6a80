"""`poseforge sweep`: a finished row is cached by its settings and inputs, so a sweep run again (here on
Ray, with one more row) runs only the rows it has not finished, and its table keeps the cached ones."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from poseforge.errors import PoseforgeError
from poseforge.fileio import PNG_MARK
from poseforge.quantize.sweep import ROUNDS, ROW_FILE, in_process, run_sweep
from poseforge.quantize.sweep_settings import read_sweep
from poseforge.validate.speed.interleaved import per_round
from tests.hostile.helpers import edit_json
from tests.validate.conftest import SMALL_SWEEP, make_coco

ROW = '\n[[rows]]\nname = "{name}"\npreset = "{preset}"\n'


def settings(path: Path, fp32: Path, coco: Path, rows: dict[str, str]) -> Path:
    path.write_text(
        SMALL_SWEEP.format(fp32=fp32, coco=coco) + "".join(ROW.format(name=n, preset=p) for n, p in rows.items())
    )
    return path


def test_a_sweep_runs_only_the_rows_it_has_not_finished(
    local_ray: object, omz_build: Path, assets: Path, tmp_path: Path
) -> None:
    from poseforge.cluster.sweep import ray_rows

    coco = make_coco(tmp_path / "coco", assets, 4)
    fp32, out = omz_build / "ir/fp32/model.xml", tmp_path / "out"
    said: list[str] = []
    first = settings(tmp_path / "one.toml", fp32, coco, {"mixed": "mixed"})
    run_sweep(read_sweep(first, assets), out, in_process, say=said.append)
    (row_file,) = out.glob(f"rows/*/{ROW_FILE}")
    kept = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in row_file.parent.rglob("*") if p.is_file()}

    said.clear()
    second = settings(tmp_path / "two.toml", fp32, coco, {"mixed": "mixed", "performance": "performance"})
    table = run_sweep(read_sweep(second, assets), out, ray_rows(local_ray), say=said.append, scheduler={"x": 1})
    assert said[0] == f"mixed: cached ({row_file.parent})" and "1 of 2 rows to run, 1 cached" in said
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in kept} == kept  # not run again, not rewritten
    assert [row["name"] for row in table["rows"]] == ["mixed", "performance"]
    cached, ran = table["rows"]
    assert cached == json.loads(row_file.read_text())["row"]
    assert ran["settings"]["preset"] == "performance" and ran["key"] != cached["key"]
    assert (out / "rows" / ran["key"][:16] / ROW_FILE).is_file()
    for row in table["rows"]:
        assert row["chosen_on"]["name"] == "coco-calib/train2017" and row["scored_on"]["name"] == "coco"
        assert row["difference"]["low"] <= row["difference"]["ap"] <= row["difference"]["high"]
        by_round = row["throughput_fps_by_round"]
        assert len(by_round["ir-int8"]) == len(by_round["ir-fp32"]) == ROUNDS
        assert row["throughput_fps"] == statistics.median(by_round["ir-int8"]) > 0
        assert row["over_fp32"] == statistics.median(per_round(by_round["ir-int8"], by_round["ir-fp32"]))
    text = (out / "sweep.md").read_text()
    assert "| 1 | mixed | coco-calib/train2017 (4 images) | coco (" in text and "| 2 | performance |" in text
    assert "**same set**" not in text
    assert f"{next(iter(PNG_MARK))}\x00poseforge".encode() in (out / "sweep.png").read_bytes()
    assert json.loads((out / "sweep.json").read_text()) == table

    # a cached row whose speed is not what its rounds give (an edited row.json) is refused, not tabled
    edit_json(row_file, lambda doc: doc["row"].update(over_fp32=doc["row"]["over_fp32"] * 2))
    with pytest.raises(PoseforgeError, match=f"{row_file} says ir-int8's throughput over ir-fp32 is not what its"):
        run_sweep(read_sweep(second, assets), out, in_process, say=said.append)
