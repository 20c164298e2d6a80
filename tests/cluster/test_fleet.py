"""`bench --ray`: the fleet bench on this one machine, standing in for two ISA tiers below its own as two
machine classes, each round a task whose environment caps oneDNN's kernels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from poseforge.documents import FLEET, read_document
from poseforge.machine import machine_info, standin_tiers, tier_cap
from poseforge.validate.speed.fleet import fleet_lines


@pytest.fixture
def two_irs(omz_build: Path, tmp_path: Path) -> Path:
    """A model folder holding the FP32 IR and Intel's INT8 IR only (links: nothing copied)."""
    model = tmp_path / omz_build.name
    (model / "ir").mkdir(parents=True)
    for name in ("fp32", "omz-int8"):
        (model / "ir" / name).symlink_to(omz_build / "ir" / name)
    return model


def test_two_emulated_classes_each_measured_in_its_own_environment(local_ray: object, two_irs: Path) -> None:
    from poseforge.cluster.fleet import run_fleet

    native = machine_info()["tier"]
    tiers = [tier for tier in standin_tiers() if tier != native][:2]
    if len(tiers) < 2:
        pytest.skip(f"this {native} CPU stands in for fewer than two lower tiers")
    output = two_irs / "bench-fleet.json"
    fleet = run_fleet(two_irs, local_ray, output, seconds=0.2, rounds=1, tiers=tiers, iterations=2)
    assert read_document(output, FLEET) == json.loads(output.read_text())
    cores = machine_info()["cores"]
    assert list(fleet["classes"]) == [f"{tier}-{cores}c-emulated" for tier in tiers]
    for tier, entry in zip(tiers, fleet["classes"].values(), strict=True):
        assert entry["emulated"] and entry["machine"]["tier"] == tier
        assert entry["machine"]["isa_cap"] == tier_cap(tier)["ONEDNN_MAX_CPU_ISA"]
        assert set(entry["speed"]) == {"ir-fp32", "omz-int8"}
        assert entry["speed"]["ir-fp32"]["throughput_over_fp32"] == 1
        int8, fp32 = entry["speed"]["omz-int8"], entry["speed"]["ir-fp32"]
        assert int8["throughput_over_fp32"] == int8["throughput_fps"] / fp32["throughput_fps"]  # one round
    text = "\n".join(fleet_lines(fleet))
    assert all(f"### {name} (emulated)" in text for name in fleet["classes"])
