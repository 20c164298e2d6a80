"""--device on the commands that run a network (validate, speed, predict): OpenVINO's names, AUTO
giving what the CPU gives, an absent device and a runtime without devices refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bundle.made import Made
from tests.conftest import run_cli


def test_validate_on_auto_scores_what_the_cpu_scores(made: Made, assets: Path, tmp_path: Path) -> None:
    reports = {}
    for device in ("CPU", "auto"):  # the name as a user types it: upper-cased as OpenVINO spells it
        out = tmp_path / f"{device}.json"
        result = run_cli("validate", str(made.bundle), "--protocol", "native", "--coco", str(assets / "coco-mini"),
                         "--limit", "6", "--no-speed", "--device", device, "-o", str(out))  # fmt: skip
        assert result.returncode == 0, result.stderr
        reports[device] = json.loads(out.read_text())
    assert reports["auto"]["runtime"]["device"] == "AUTO" and reports["auto"]["runtime"]["execution_devices"] == ["CPU"]
    assert reports["CPU"]["runtime"]["device"] == "CPU"
    assert reports["auto"]["ap"] == pytest.approx(reports["CPU"]["ap"], abs=1e-3)


def test_an_absent_device_and_a_cpu_only_runtime_are_one_line(
    made: Made, omz_build: Path, coco_images: list[Path], assets: Path, tmp_path: Path
) -> None:
    import openvino as ov

    absent = next(d for d in ("NPU", "GPU") if not any(a.startswith(d) for a in ov.Core().available_devices))
    coco = str(assets / "coco-mini")
    for argv in (["speed", str(made.bundle), "--coco", coco, "--device", absent, "-o", str(tmp_path / "s.json")],
                 ["predict", str(made.bundle), str(coco_images[0]), "--device", absent]):  # fmt: skip
        result = run_cli(*argv, cwd=tmp_path)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        last = result.stderr.strip().splitlines()[-1]  # (predict's progress bar stands above it)
        assert last == f"poseforge: error: device {absent} is not available here: OpenVINO's available_devices are CPU"
    assert list((tmp_path / "runs" / "predict").iterdir()) == []  # predict's numbered folder, made, then removed
    torch = run_cli("validate", str(omz_build / "model.pth"), "--protocol", "val", "--device", "AUTO", "--limit", "2",
                    "-o", str(tmp_path / "t.json"))  # fmt: skip
    assert torch.returncode == 1 and "device AUTO runs OpenVINO artifacts" in torch.stderr
    usage = run_cli("validate", str(made.bundle), "--protocol", "val", "--device", "TPU")
    assert usage.returncode == 2 and "choose from CPU, AUTO, GPU, NPU" in usage.stderr
