"""A sweep's settings file: a grid and a list of rows become QuantizeSettings rows, named, with their
calibration folder; paths in the file are relative to it, paths given on the command line are not."""

from __future__ import annotations

from pathlib import Path

from poseforge.quantize.settings import QuantizeSettings
from poseforge.quantize.sweep_settings import read_sweep

TEXT = """
[inputs]
fp32 = "build/ir/fp32/model.xml"
seconds = 2

[base]
subset_size = 100
ignored_scope = ["type:Concat"]

[grid]
preset = ["mixed", "performance"]
fast_bias_correction = [false, true]

[[rows]]
name = "NNCF's defaults"
range_estimator = "nncf-default"
candidates = 0

[[rows]]
calib = "other/images"
allow_overlap = true
"""


def test_a_grid_and_a_list_become_named_rows(tmp_path: Path) -> None:
    path = tmp_path / "sweeps" / "int8.toml"
    path.parent.mkdir()
    path.write_text(TEXT)
    sweep = read_sweep(path, tmp_path / "data")
    assert sweep.fp32 == path.parent / "build/ir/fp32/model.xml" and sweep.seconds == 2.0
    assert sweep.coco == tmp_path / "data/coco-val" and sweep.protocol == "val" and sweep.limit is None
    assert [row.name for row in sweep.rows] == [
        "preset=mixed, fast_bias_correction=false", "preset=mixed, fast_bias_correction=true",
        "preset=performance, fast_bias_correction=false", "preset=performance, fast_bias_correction=true",
        "NNCF's defaults", "calib=other/images",
    ]  # fmt: skip
    base = QuantizeSettings(subset_size=100, ignored_scope=("type:Concat",))
    assert sweep.rows[3].settings == QuantizeSettings(**{**base.__dict__, "preset": "performance",
                                                         "fast_bias_correction": True})  # fmt: skip
    defaults = sweep.rows[4]
    assert defaults.settings.range_estimator == "nncf-default" and defaults.settings.candidates is None
    assert defaults.calib == tmp_path / "data/coco-calib/train2017" and not defaults.allow_overlap
    other = sweep.rows[5]
    assert other.calib == path.parent / "other/images" and other.allow_overlap and other.settings == base
    given = read_sweep(path, tmp_path / "data", {"fp32": "x/model.xml", "coco": "c", "calib": None})
    assert given.fp32 == Path("x/model.xml") and given.coco == Path("c")
