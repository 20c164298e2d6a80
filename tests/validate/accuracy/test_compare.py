"""`poseforge compare`: each report's run, protocol and image set printed; reports of different
protocols (or native heights) refused unless --cross-protocol; a run under bf16 named `ir-fp32.bf16`
wherever a run is printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from poseforge.artifacts import run_name
from poseforge.cli.validate import report_line
from poseforge.machine import supports_precision
from poseforge.runtime.options import ACCURACY
from poseforge.validate.accuracy.validate import read_report, validate_artifact
from tests.conftest import MINI_VAL_ARTIFACTS, run_cli


@pytest.fixture(scope="module")
def reports(omz_build: Path, assets: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The FP32 IR on a small COCO set: val, native, native at 320, and native under the bf16 hint."""
    from tests.validate.conftest import make_coco

    root = tmp_path_factory.mktemp("compare")
    coco = make_coco(root / "coco", assets, 3)
    ir = omz_build / MINI_VAL_ARTIFACTS["ir-fp32"]
    runs = {"val": ("val", None, "f32"), "native": ("native", None, "f32"), "native@320": ("native", 320, "f32"),
            "native.bf16": ("native", None, "bf16")}  # fmt: skip
    paths = {}
    for key, (protocol, height, hint) in runs.items():
        paths[key] = root / f"{key}.json"
        validate_artifact(ir, coco, protocol, paths[key], options=ACCURACY.replace(precision_hint=hint),
                          measure=False, input_height=height)  # fmt: skip
    return paths


def test_reports_of_different_protocols_are_refused(reports: dict[str, Path]) -> None:
    for other in ("val", "native@320"):
        result = run_cli("compare", str(reports["native"]), str(reports[other]))
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
        assert f"is a native report and {reports[other]} a {other} one" in result.stderr
        assert "--cross-protocol" in result.stderr and not result.stdout


def test_cross_protocol_prints_both_and_says_what_the_difference_is(reports: dict[str, Path]) -> None:
    result = run_cli("compare", str(reports["val"]), str(reports["native@320"]), "--cross-protocol")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("A ir-fp32, val protocol, on coco: AP ")
    assert lines[2].startswith("B ir-fp32, native protocol at height 320, on coco: AP ")
    assert lines[3].startswith("protocols differ (val against native@320, --cross-protocol)")


def test_a_run_under_bf16_is_named_by_its_hint(reports: dict[str, Path], tmp_path: Path) -> None:
    result = run_cli("compare", str(reports["native"]), str(reports["native.bf16"]), "-o", str(tmp_path / "c.json"))
    assert result.returncode == 0, result.stderr
    bf16 = read_report(reports["native.bf16"])
    name = run_name("ir-fp32", bf16["precision_hint"])  # the hint the run recorded
    if supports_precision("bf16"):  # where bf16 is native it runs under it (elsewhere OpenVINO may run f32)
        assert name == "ir-fp32.bf16"
    assert result.stdout.splitlines()[2].startswith(f"B {name}, native protocol at height 256, on coco")
    assert report_line(bf16).startswith(f"{name} native: AP ")


def test_a_report_compared_with_itself_is_refused(reports: dict[str, Path], tmp_path: Path) -> None:
    """It printed a paired difference of 0 and that the set 'resolves about 0.0000' between them."""
    link = tmp_path / "same.json"
    link.symlink_to(reports["val"])
    for other in (reports["val"], link):
        result = run_cli("compare", str(reports["val"]), str(other), "-o", str(tmp_path / "c.json"))
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
        assert "are the same report" in result.stderr and not result.stdout
        assert not (tmp_path / "c.json").exists()
