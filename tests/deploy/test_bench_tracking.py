"""`poseforge bench-tracking`: the clips through a real bundle, scored, judged, printed and written."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bundle.made import Made
from tests.conftest import run_cli


def test_bench_tracking_judges_the_targets_on_every_clip(made: Made, assets: Path, tmp_path: Path) -> None:
    out = tmp_path / "tracking.json"
    result = run_cli("bench-tracking", str(made.bundle), "--coco", str(assets / "coco-val"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    bench = json.loads(out.read_text())
    assert bench["schema"] == "poseforge.bench-tracking/1" and bench["precision"] == "fp32"
    assert set(bench["clips"]) == {"pan", "zoom", "crossing", "slideshow"}
    for clip in bench["clips"].values():
        assert clip["frames"] == 90
        for run in ("tracker", "before"):
            figures = clip[run]["figures"]
            assert figures["frames"] == 90 and 0 < figures["tracked"] <= figures["found"] <= 1
            assert figures["distinct_ids"] >= 1 and figures["track_ms"] > 0
    # The complaint, reproduced by the greedy tracker, and the targets the defaults meet.
    pan = bench["clips"]["pan"]
    assert pan["before"]["figures"]["distinct_ids"] > 5 * pan["before"]["figures"]["people_in_view"]
    assert bench["clips"]["slideshow"]["before"]["figures"]["ids_across_cuts"]
    assert [t["holds"] for t in bench["targets"]] == [True, True, True] and bench["holds"]
    assert pan["tracker"]["figures"]["distinct_ids"] <= 1.5 * pan["tracker"]["figures"]["people_in_view"]
    assert pan["tracker"]["figures"]["long_track_share"] >= 0.9
    assert bench["clips"]["slideshow"]["tracker"]["figures"]["ids_across_cuts"] == []
    for line in ("distinct ids per person in view", "ids seen in two shots", "holds", "frame change"):
        assert line in result.stdout, line
    assert f"wrote {out}" in result.stdout


def test_bench_tracking_names_a_photo_the_image_set_lacks(made: Made, assets: Path, tmp_path: Path) -> None:
    """coco-mini lacks the crowded photo the clips are made of: one line naming it, nothing written."""
    out = tmp_path / "tracking.json"
    result = run_cli("bench-tracking", str(made.bundle), "--coco", str(assets / "coco-mini"), "-o", str(out))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("poseforge: error: ") and "does not list 000000001000.jpg" in line, line
    assert not out.exists()
