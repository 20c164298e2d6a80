"""precision_hint="auto": the fastest hint the bundle validated within tolerance of f32 on this
machine class; f32 where a hint's recorded AP is worse than the tolerance, where the bundle has no
figures for the class, and for an INT8 network."""

from __future__ import annotations

import copy
import json

import pytest

from poseforge.bundle import open_bundle
from poseforge.bundle.manifest import validated
from poseforge.deploy.estimator import PoseEstimator
from poseforge.deploy.precision import TOLERANCE, choose_hint, resolve_hint
from poseforge.machine import machine_info, runs_bf16_natively
from tests.bundle.made import Made
from tests.conftest import run_cli

AMX = "x86-amx-2c"
FIGURES = {AMX: {"f32": {"ap": 0.4535, "throughput_fps": 14.0}, "bf16": {"ap": 0.4570, "throughput_fps": 60.0}}}


def test_bf16_within_tolerance_and_faster_is_chosen() -> None:
    hint, why = choose_hint(FIGURES, AMX, "fp32")
    assert hint == "bf16" and "4.3x f32's throughput" in why and AMX in why


def test_bf16_worse_than_the_tolerance_is_refused() -> None:
    worse = copy.deepcopy(FIGURES)
    worse[AMX]["bf16"]["ap"] = 0.4535 - TOLERANCE - 0.001
    hint, why = choose_hint(worse, AMX, "fp32")
    assert hint == "f32" and "bf16 refused" in why


def test_no_figures_for_this_class_or_an_int8_network_keep_f32() -> None:
    assert choose_hint(FIGURES, "x86-avx2-2c", "fp32")[0] == "f32"
    assert "no validated figures for x86-avx2-2c" in choose_hint(FIGURES, "x86-avx2-2c", "fp32")[1]
    assert choose_hint(FIGURES, AMX, "int8") == ("f32", choose_hint({}, AMX, "int8")[1])


def test_the_made_bundle_runs_the_hint_it_validated_here(made: Made) -> None:
    """`make bundle` on this machine: the FP32 bundle carries its bf16 reports where bf16 is native,
    and the estimator's default chooses from them, saying why; asked for f32, it runs f32."""
    with open_bundle(made.bundle) as bundle:
        manifest = bundle.manifest
    here = str(machine_info()["class"])
    figures = validated(manifest)
    expected = choose_hint(figures, here, "fp32")
    with PoseEstimator(made.bundle) as estimator:
        assert estimator.precision_choice == {"requested": "auto", "hint": expected[0], "why": expected[1]}
    if runs_bf16_natively():
        assert set(figures[here]) == {"f32", "bf16"}
        f32, bf16 = figures[here]["f32"], figures[here]["bf16"]
        if bf16["ap"] >= f32["ap"] - TOLERANCE and bf16["throughput_fps"] > f32["throughput_fps"]:
            assert expected[0] == "bf16"
        # The same bundle with its bf16 AP recorded worse than the tolerance: f32 is chosen.
        worse = copy.deepcopy(manifest)
        worse["measured"]["hints"]["bf16"]["val"]["ap"] = f32["ap"] - TOLERANCE - 0.005
        choice = resolve_hint("auto", worse, "CPU")
        assert choice["hint"] == "f32" and "bf16 refused" in choice["why"]
    else:
        assert expected[0] == "f32"
    with PoseEstimator(made.bundle, precision_hint="f32") as estimator:
        assert estimator.precision_choice["hint"] == "f32" and estimator.options.precision_hint == "f32"


@pytest.mark.slow
def test_predict_states_its_precision_hint(made: Made, coco_images: list, tmp_path) -> None:
    out = tmp_path / "out"
    result = run_cli("predict", str(made.bundle), str(coco_images[0]), "-o", str(out), "--save", "poses")
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "predict.json").read_text())
    choice = summary["runtime"]["precision_choice"]
    assert choice["requested"] == "auto" and f"precision hint: {choice['hint']} ({choice['why']})" in result.stdout
    assert summary["runtime"]["precision_hint"] == choice["hint"]
