"""`poseforge bench-deploy`: the four runs of each round, their ratios and per-stage timings, as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bundle.made import Made
from tests.conftest import run_cli
from tests.deploy.test_predict_video import write_video


def test_bench_deploy_measures_both_input_sizes(made: Made, coco_images: list[Path], tmp_path: Path) -> None:
    clip = write_video(tmp_path / "clip.mp4", coco_images[:16], "mp4v")
    out = tmp_path / "bench-deploy.json"
    result = run_cli("bench-deploy", str(made.bundle), "--video", str(clip), "--rounds", "2", "--seconds", "0.5",
                     "-o", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "native input over letterboxed" in result.stdout and "slowest stage" in result.stdout
    bench = json.loads(out.read_text())
    assert bench["schema"] == "poseforge.bench-deploy/1" and bench["video"]["size"] == [480, 640]
    assert bench["shapes"] == {"letterbox": [256, 456], "native": [256, 344]}  # 640x480 at height 256: 344 wide
    assert [r["round"] for r in bench["rounds"]] == [1, 2]
    for run in bench["rounds"]:
        for size in ("letterbox", "native"):
            assert run[f"network_{size}"] > 0 and run[f"e2e_{size}"] > 0 and run[f"e2e_{size}_whole_run"] > 0
            assert {"read", "preprocess", "infer", "decode", "draw", "write"} <= set(run[f"timings_{size}"])
            assert run[f"threads_{size}"] >= 1  # predict's own (16 frames: too few to measure, all cores)
        assert run["api_native"] > 0
    api = sorted(r["api_native"] / r["network_native"] for r in bench["rounds"])
    assert bench["api_over_network_native"] == pytest.approx(sum(api) / 2)
    ratios = bench["ratios"]
    assert set(ratios) == {"native_over_letterbox_e2e", "e2e_over_network_native", "predict_over_bound",
                           "api_over_bound"}  # fmt: skip
    native = sorted(r["e2e_native"] / r["network_native"] for r in bench["rounds"])
    assert ratios["e2e_over_network_native"] == pytest.approx(sum(native) / 2)  # the median of two rounds
    for run in bench["rounds"]:  # the bound N / (N + P): N from the network's fps, P from the stages' mean CPU
        for path, timings in (("predict", run["timings_native"]), ("api", run["timings_api"])):
            figures = run[f"bound_{path}"]
            assert figures["network_cpu_ms"] == pytest.approx(1e3 * bench["cores"] / run["network_native"])
            stages = sum(f["cpu_mean_ms"] for s, f in timings.items() if s != "infer" and "cpu_mean_ms" in f)
            assert figures["python_cpu_ms"] == pytest.approx(stages) and stages > 0
            n, p = figures["network_cpu_ms"], figures["python_cpu_ms"] + figures["encoder_cpu_ms"]
            assert figures["bound"] == pytest.approx(n / (n + p)) and 0 < figures["bound"] < 1
        assert run["bound_predict"]["encoder_cpu_ms"] > 0  # predict's H.264 encoder, counted in its P
        assert {"read", "preprocess", "decode"} <= set(run["timings_api"])
    api_share = sorted(r["api_native"] / r["network_native"] / r["bound_api"]["bound"] for r in bench["rounds"])
    assert ratios["api_over_bound"] == pytest.approx(sum(api_share) / 2)
    assert "bound N/(N+P)" in result.stdout


def test_bench_deploy_refuses_a_clip_too_short_to_time(made: Made, coco_images: list[Path], tmp_path: Path) -> None:
    clip = write_video(tmp_path / "short.mp4", coco_images[:3], "mp4v")
    result = run_cli("bench-deploy", str(made.bundle), "--video", str(clip), "--rounds", "1", "--seconds", "0.2")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("poseforge: error: ")
    assert "too few to time predict after its warm-up" in result.stderr
