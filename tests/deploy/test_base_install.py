"""The deployment install: the base alone (requirements-deploy.lock, no torch, onnx or nncf) in a fresh
venv, installed offline from a folder of wheels by the README's recipe as written, runs the README's
API example and `poseforge predict` on a bundle."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import poseforge
from tests.bundle.made import Made

REPO = Path(__file__).resolve().parents[2]
DEPLOY_LOCK = REPO / "requirements-deploy.lock"
README = REPO / "README.md"


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


def install_recipe() -> list[str]:
    """The commands of the README's offline install, in order."""
    block = README.read_text().split("### Install on a device without a network")[1].split("```")[1]
    return [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]


def test_the_readme_recipe_and_the_lock_header_agree() -> None:
    wheel = f"dist/poseforge-{poseforge.__version__}-py3-none-any.whl"
    install = f"venv/bin/pip install --no-index --find-links wheels -r requirements-deploy.lock {wheel}"
    assert install_recipe() == [
        "make wheel",
        "pip download -r requirements-deploy.lock -d wheels",
        "python3.11 -m venv venv",
        install,
    ]
    header = [ln for ln in DEPLOY_LOCK.read_text().splitlines() if ln.startswith("#")]
    assert f"#   {install}" in header  # the lock names the same command the README gives


@pytest.mark.slow
def test_the_offline_recipe_installs_and_runs_the_api(made: Made, coco_images: list[Path], tmp_path: Path) -> None:
    """The README's recipe as written, in a scratch folder: the wheel and the pinned wheels fetched
    where there is an index, then a fresh venv installed from them with --no-index."""
    recipe = install_recipe()
    (tmp_path / DEPLOY_LOCK.name).write_bytes(DEPLOY_LOCK.read_bytes())  # copied with the wheels, as it says
    # make wheel, into this folder's dist/ (DIST=), not the repository's.
    run("make", "--no-print-directory", "-C", REPO, recipe[0].split()[1], f"DIST={tmp_path / 'dist'}")
    download = recipe[1].split()
    run(sys.executable, "-m", *download, cwd=tmp_path)  # pip's index here is local; a device's is the network
    assert len(list((tmp_path / "wheels").glob("*.whl"))) == len(pins(DEPLOY_LOCK))  # the lock, and nothing else
    run(sys.executable, *recipe[2].split()[1:], cwd=tmp_path)  # python3.11 -m venv venv
    run(*recipe[3].split(), cwd=tmp_path)  # --no-index: nothing but wheels/ and the wheel
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    missing = run(python, "-c", "import importlib.util as u; print([m for m in ('torch', 'onnx', 'nncf', "
                  "'onnxruntime', 'pycocotools', 'matplotlib') if u.find_spec(m)])").stdout.strip()  # fmt: skip
    assert missing == "[]"
    size = du_mb(venv)
    print(f"base install: {size:.0f} MB")  # the README quotes it
    assert size < 700
    # The README's API example, as written, with its two paths pointed at real files.
    example = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)[0]
    (tmp_path / "photo.jpg").write_bytes(coco_images[1].read_bytes())
    code = example.replace("dist/human-pose-estimation-0001-int8.tar.gz", str(made.bundle))
    out = run(python, "-c", code, cwd=tmp_path).stdout
    assert "people" in out and "val AP" in out
    result = run(venv / "bin" / "poseforge", "predict", made.bundle, coco_images[1], "-o", tmp_path / "out",
                 cwd=tmp_path)  # fmt: skip
    assert "wrote" in result.stdout and (tmp_path / "out" / "poses.json").is_file()
    convert = subprocess.run([venv / "bin" / "poseforge", "export", "x.pth", "-o", "x.onnx"], capture_output=True,
                             text=True, cwd=tmp_path)  # fmt: skip
    assert convert.returncode == 1 and "pip install 'poseforge[convert]'" in convert.stderr
