"""`bench --ray`: the fleet bench on this one machine, standing in for two ISA tiers below its own as two
machine classes, each round a task whose environment caps oneDNN's kernels."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from poseforge.documents import FLEET, read_document
from poseforge.machine import ISA_CAP_VARIABLE, machine_info, standin_tiers, tier_cap
from poseforge.validate.speed.fleet import fleet_lines
from tests.conftest import run_cli


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


def test_a_cap_the_command_runs_under_is_not_the_cap_of_the_cpus_own_tier(omz_build: Path, tmp_path: Path) -> None:
    """The local Ray's workers inherit the command's ONEDNN_MAX_CPU_ISA: the CPU's own tier still runs uncapped
    (as `bench --tiers` gives its own tier's process no cap)."""
    pytest.importorskip("ray", reason="Ray is the cluster extra: `make setup-cluster` installs it")
    native, lowest = machine_info()["tier"], standin_tiers()[0]
    if lowest == native:
        pytest.skip(f"this {native} CPU stands in for no lower tier")
    model = tmp_path / omz_build.name
    (model / "ir").mkdir(parents=True)
    (model / "ir" / "fp32").symlink_to(omz_build / "ir" / "fp32")
    output = tmp_path / "bench-fleet.json"
    env = {**os.environ, ISA_CAP_VARIABLE: tier_cap(lowest)[ISA_CAP_VARIABLE]}
    done = run_cli("bench", str(model), "--ray", "--seconds", "0.2", "--rounds", "1", "-o", str(output), env=env)
    assert done.returncode == 0, done.stderr
    own = read_document(output, FLEET)["classes"][machine_info()["class"]]
    assert own["machine"]["tier"] == native and not own["emulated"]
