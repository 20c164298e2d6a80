"""The deployment install: the base alone (requirements-deploy.lock, no torch, onnx or nncf) in a fresh
venv, installed offline from a folder of wheels, runs PoseEstimator and `poseforge predict` on a bundle."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bundle.made import Made

REPO = Path(__file__).resolve().parents[2]
DEPLOY_LOCK = REPO / "requirements-deploy.lock"


def pins(path: Path) -> dict[str, str]:
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return {name.lower(): version for name, version in (ln.split("==") for ln in lines)}


def test_the_deploy_lock_is_the_base_of_the_full_lock() -> None:
    deploy, full = pins(DEPLOY_LOCK), pins(REPO / "requirements.lock")
    assert all(full.get(name) == version for name, version in deploy.items()), deploy
    base = re.search(r"^dependencies = \[(.*?)\]", (REPO / "pyproject.toml").read_text(), re.DOTALL | re.MULTILINE)
    assert base is not None
    declared = {k.lower(): v for k, v in re.findall(r'"([\w-]+)==([\w.]+)"', base.group(1))}
    assert declared == {name: deploy[name] for name in declared}
    assert not {"torch", "onnx", "nncf", "onnxruntime"} & set(deploy)


def run(*args: str | Path, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=900, **kwargs)
    assert result.returncode == 0, f"{args}: {result.stderr[-2000:]}"
    return result


def du_mb(path: Path) -> float:
    return int(run("du", "-sk", path).stdout.split()[0]) / 1024


@pytest.mark.slow
def test_the_base_install_predicts(made: Made, coco_images: list[Path], tmp_path: Path) -> None:
    wheels, venv = tmp_path / "wheels", tmp_path / "base"
    # Where there is a network (or a pip cache): the wheels, fetched once...
    run(sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", wheels, "-r", DEPLOY_LOCK, "setuptools>=77")
    # ...then the device's install, with no index at all.
    run(sys.executable, "-m", "venv", venv)
    pip = venv / "bin" / "pip"
    run(pip, "install", "-q", "--no-index", "--find-links", wheels, "-r", DEPLOY_LOCK, "setuptools>=77")
    run(pip, "install", "-q", "--no-index", "--no-deps", "--no-build-isolation", REPO)
    python = venv / "bin" / "python"
    missing = run(python, "-c", "import importlib.util as u; print([m for m in ('torch', 'onnx', 'nncf', "
                  "'onnxruntime', 'pycocotools', 'matplotlib') if u.find_spec(m)])").stdout.strip()  # fmt: skip
    assert missing == "[]"
    size = du_mb(venv)
    print(f"base install: {size:.0f} MB")  # the note quotes it
    assert size < 600
    code = (
        "import cv2, sys\n"
        "from poseforge import PoseEstimator\n"
        "with PoseEstimator(sys.argv[1]) as est:\n"
        "    poses = est(cv2.imread(sys.argv[2]))\n"
        "print(len(poses), est.measured())\n"
    )
    out = run(python, "-c", code, made.bundle, coco_images[0], cwd=tmp_path).stdout
    assert int(out.split()[0]) >= 1 and "val AP" in out
    result = run(
        venv / "bin" / "poseforge", "predict", made.bundle, coco_images[1], "-o", tmp_path / "out", cwd=tmp_path
    )
    assert "wrote" in result.stdout and (tmp_path / "out" / "poses.json").is_file()
    convert = subprocess.run([venv / "bin" / "poseforge", "export", "x.pth", "-o", "x.onnx"], capture_output=True,
                             text=True, cwd=tmp_path)  # fmt: skip
    assert convert.returncode == 1 and "pip install 'poseforge[convert]'" in convert.stderr
