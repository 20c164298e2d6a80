"""Class 3, stale attestations: a report, speed file or checkpoint that no longer vouches for its
artifact is refused, by name, before anything is written."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from tests.hostile.helpers import cli, copied_reports, edit_json, refused, snapshot

UPSTREAM = "upstream/lwop_random_checkpoint.pth"


def flip_middle_byte(path: Path) -> None:
    """Another version of a file: the same size, one byte different."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_bundle_refuses_reports_of_another_version_of_the_ir(
    model_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """model.bin swapped after validation (same size, other bytes): the reports vouch for the old IR."""
    flip_middle_byte(model_copy / "ir" / "fp32" / "model.bin")
    out = tmp_path / "dist" / "b.tar.gz"
    before = snapshot(tmp_path)
    line = refused(cli(capsys, "bundle", model_copy / "ir/fp32/model.xml", "--reports", model_copy / "reports",
                       "-o", out))  # fmt: skip
    assert "ir-fp32-val.json was measured on another version" in line and "model.xml" in line
    assert snapshot(tmp_path) == before


def test_bundle_refuses_a_report_of_another_artifact_under_its_name(
    model_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = model_copy / "reports"
    edit_json(reports / "ir-fp32-val.json", lambda r: r.update(artifact="ir-fp16"))
    before = snapshot(tmp_path)
    line = refused(cli(capsys, "bundle", model_copy / "ir/fp32/model.xml", "--reports", reports, "-o",
                       tmp_path / "b.tar.gz"))  # fmt: skip
    assert "ir-fp32-val.json is the val report of ir-fp16" in line
    assert snapshot(tmp_path) == before


# name -> (the artifact the FP32 IR's val report names, given a folder to copy it to) from omz_build
EXAMPLE_ARTIFACTS: dict[str, Callable[[Path, Path], Path]] = {
    "another artifact (Intel's INT8 IR)": lambda build, folder: build / "ir/omz-int8/model.xml",
    "the IR changed after validation": lambda build, folder: _changed(_copied_ir(build / "ir/fp32", folder)),
}


def _copied_ir(ir: Path, folder: Path) -> Path:
    shutil.copytree(ir, folder / "fp32")
    return folder / "fp32" / "model.xml"


@pytest.mark.parametrize("case", list(EXAMPLE_ARTIFACTS))
def test_report_draws_its_example_only_with_the_artifact_its_report_measured(
    case: str, scored: Path, omz_build: Path, coco3: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """report --coco ran whatever artifact_file a report names: the example was drawn by another network
    and captioned with the report's."""
    reports, _ = copied_reports(scored, tmp_path / "model")
    artifact = EXAMPLE_ARTIFACTS[case](omz_build, tmp_path)
    edit_json(reports / "ir-fp32-val.json", lambda report: report.update(artifact_file=str(artifact)))
    before = snapshot(tmp_path)
    line = refused(cli(capsys, "report", reports.parent, "--coco", coco3), artifact, reports / "ir-fp32-val.json")
    assert "sha256 differs" in line
    assert snapshot(tmp_path) == before


# name -> (the IR validated, the speed file) from (the scored model copy, omz_build)
SPEEDS: dict[str, Callable[[Path, Path], tuple[Path, Path]]] = {
    "a speed file of another artifact": lambda model, build: (
        build / "ir/fp16/model.xml",
        model / "reports/speed/ir-fp32.json",
    ),
    "a speed file of an earlier version of the IR": lambda model, build: (
        _changed(model / "ir/fp32/model.xml"),
        model / "reports/speed/ir-fp32.json",
    ),
}


def _changed(xml: Path) -> Path:
    flip_middle_byte(xml.with_suffix(".bin"))
    return xml


@pytest.mark.parametrize("case", list(SPEEDS))
def test_validate_refuses_a_speed_file_of_something_else(
    case: str,
    model_copy: Path,
    omz_build: Path,
    coco3: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ir, speed = SPEEDS[case](model_copy, omz_build)
    out = tmp_path / "r.json"
    before = snapshot(tmp_path, coco3)
    line = refused(cli(capsys, "validate", ir, "--coco", coco3, "--protocol", "val", "--speed", speed, "-o", out))
    assert str(speed) in line and "measured on another version" in line
    assert snapshot(tmp_path, coco3) == before


def poisoned_upstream(assets: Path, target: Path, value: float, buffer: bool = False) -> tuple[Path, str]:
    """The upstream training checkpoint with one non-finite value in a weight (or a BatchNorm buffer)."""
    checkpoint = torch.load(assets / UPSTREAM, map_location="cpu", weights_only=True)
    state = dict(checkpoint["state_dict"])
    key = next(k for k, v in state.items() if v.is_floating_point() and (k.endswith("running_var") if buffer else
                                                                         v.ndim == 4))  # fmt: skip
    tensor = state[key].clone()
    tensor.view(-1)[tensor.numel() // 2] = value
    state[key] = tensor
    torch.save({**checkpoint, "state_dict": state}, target)
    return target, key


def poisoned_normalised(build: Path, target: Path, value: float) -> tuple[Path, str]:
    """A normalised model.pth (poseforge's format) with one non-finite weight."""
    checkpoint = torch.load(build / "model.pth", map_location="cpu", weights_only=True)
    state = dict(checkpoint["state_dict"])
    key = next(k for k, v in state.items() if v.is_floating_point() and v.ndim == 4)
    tensor = state[key].clone()
    tensor.view(-1)[0] = value
    state[key] = tensor
    torch.save({**checkpoint, "state_dict": state}, target)
    return target, key


# name -> (make the checkpoint in a folder, the command's arguments before -o, the output's name)
WEIGHTS: dict[str, tuple[Callable[[Path, Path, Path], tuple[Path, str]], list[str], str]] = {
    "checkpoint: an upstream checkpoint with a NaN weight": (
        lambda root, assets, build: poisoned_upstream(assets, root / "nan.pth", float("nan")),
        ["checkpoint", "--model", "lightweight-openpose"],
        "model.pth",
    ),
    "checkpoint: an upstream checkpoint with an inf weight": (
        lambda root, assets, build: poisoned_upstream(assets, root / "inf.pth", float("inf")),
        ["checkpoint", "--model", "lightweight-openpose"],
        "model.pth",
    ),
    "checkpoint: an upstream checkpoint with a NaN BatchNorm variance": (
        lambda root, assets, build: poisoned_upstream(assets, root / "bn.pth", float("nan"), buffer=True),
        ["checkpoint", "--model", "lightweight-openpose"],
        "model.pth",
    ),
    "export: a model.pth with a NaN weight": (
        lambda root, assets, build: poisoned_normalised(build, root / "model.pth", float("nan")),
        ["export"],
        "model.onnx",
    ),
    "export: a model.pth with a -inf weight": (
        lambda root, assets, build: poisoned_normalised(build, root / "model.pth", float("-inf")),
        ["export"],
        "model.onnx",
    ),
}


@pytest.mark.parametrize("case", list(WEIGHTS))
def test_non_finite_weights_are_refused(
    case: str, assets: Path, omz_build: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, command, output = WEIGHTS[case]
    source, key = make(tmp_path, assets, omz_build)
    before = snapshot(tmp_path)
    line = refused(cli(capsys, *command, source, "-o", tmp_path / "out" / output), source.name, key)
    assert "non-finite" in line
    assert snapshot(tmp_path) == before


def test_validate_refuses_a_checkpoint_with_nan_weights(
    omz_build: Path, coco3: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, key = poisoned_normalised(omz_build, tmp_path / "model.pth", float("nan"))
    before = snapshot(tmp_path)
    refused(cli(capsys, "validate", source, "--coco", coco3, "--protocol", "val", "--no-speed", "-o",
                tmp_path / "r.json"), source, key, "non-finite")  # fmt: skip
    assert snapshot(tmp_path) == before


def test_compare_refuses_results_that_changed_after_the_report(
    scored: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report names its results by sha256: edited results no longer back its AP."""
    reports, results = copied_reports(scored, tmp_path)
    edit_json(results, lambda rows: rows[0].update(score=rows[0]["score"] / 2))
    before = snapshot(tmp_path)
    refused(cli(capsys, "compare", reports / "ir-fp32-val.json", reports / "ir-fp32-deploy.json", "--cross-protocol"),
            results, "sha256 differs")  # fmt: skip
    assert snapshot(tmp_path) == before
