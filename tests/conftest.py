"""Shared fixtures: the real assets (through POSEFORGE_DATA) and artifacts built once by make."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from poseforge.fetch import data_dir

if TYPE_CHECKING:
    from tests.bundle.made import Made

REPO = Path(__file__).resolve().parents[1]
# Tests that need the data assets or artifacts built by make: the `data` tier. `make test-fast`
# runs the others, without POSEFORGE_DATA, in seconds.
DATA_FIXTURES = {
    "assets",
    "coco_images",
    "lwop_build",
    "omz_build",
    "made",
    "small_coco",
    "mini_val_reports",
    "vgg19_build",
    "default_int8",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if DATA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.data)


OMZ_XML = "omz/human-pose-estimation-0001/FP16-INT8/human-pose-estimation-0001.xml"


@pytest.fixture(scope="session")
def assets() -> Path:
    """The data directory with the real assets; tests need them, they are never downloaded here."""
    root = data_dir()
    needed = [OMZ_XML, "coco-mini/annotations/person_keypoints_val2017.json", "upstream/lwop_random_golden.npz"]
    missing = [rel for rel in needed if not (root / rel).is_file()]
    if missing:
        pytest.fail(f"POSEFORGE_DATA={root} lacks {missing}: point it at the assets (e.g. ../shared/assets)")
    return root


@pytest.fixture(scope="session")
def coco_images(assets: Path) -> list[Path]:
    return sorted((assets / "coco-mini" / "val2017").glob("*.jpg"))


def run_make(*targets: str, **variables: str) -> subprocess.CompletedProcess:
    args = ["make", "--no-print-directory", "-C", str(REPO), *targets, *(f"{k}={v}" for k, v in variables.items())]
    return subprocess.run(args, capture_output=True, text=True, timeout=900)


# What `make ir` writes under build/<model> on the way to the FP32 IR, then the FP16 IR.
FP32_CHAIN = ("model.pth", "model.onnx", "model.sim.onnx", "ir/fp32/model.xml", "ir/fp32/model.bin")
IR_CHAIN = (*FP32_CHAIN, "ir/fp16/model.xml", "ir/fp16/model.bin")


def copy_with_times(source: Path, target: Path, files: tuple[str, ...]) -> None:
    """Copy `files` (paths relative to both folders), times kept: make sees them as up to date."""
    for rel in files:
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / rel, target / rel)


def run_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """The installed CLI in a fresh process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "poseforge.cli", *args], capture_output=True, text=True, timeout=600, **kwargs
    )


# Installed before anything else is imported: an import of a blocked package fails as if it were
# not installed, and is recorded in `attempts`, so that a guarded optional import is seen too.
_BLOCKER = """
import sys
BLOCKED = set({blocked!r})
attempts = []
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            attempts.append(name)
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
        return None
sys.meta_path.insert(0, Blocker())
"""


def run_blocked(blocked: tuple[str, ...], body: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the Python `body` in a fresh interpreter where the `blocked` packages cannot be imported;
    the body sees `BLOCKED` (a set) and `attempts` (the blocked imports it tried)."""
    code = _BLOCKER.format(blocked=tuple(sorted(blocked))) + body
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def lwop_build(tmp_path_factory: pytest.TempPathFactory, assets: Path) -> Path:
    """`make ir` for the upstream architecture with the random-weight upstream checkpoint."""
    build = tmp_path_factory.mktemp("build")
    ckpt = assets / "upstream" / "lwop_random_checkpoint.pth"
    result = run_make("ir", MODEL="lightweight-openpose", CHECKPOINT=str(ckpt), BUILD=str(build), DATA=str(assets))
    assert result.returncode == 0, result.stderr
    return build / "lightweight-openpose"


@pytest.fixture(scope="session")
def omz_build(tmp_path_factory: pytest.TempPathFactory, assets: Path) -> Path:
    """`make ir omz-int8` for the default model: weights imported from the Open Model Zoo IR,
    and that IR registered as the omz-int8 reference artifact."""
    build = tmp_path_factory.mktemp("build")
    result = run_make("ir", "omz-int8", BUILD=str(build), DATA=str(assets))
    assert result.returncode == 0, result.stderr
    return build / "human-pose-estimation-0001"


@pytest.fixture(scope="session")
def vgg19_build(tmp_path_factory: pytest.TempPathFactory, assets: Path) -> Path:
    """`make ir MODEL=openpose-vgg19` without CHECKPOINT: a random-init checkpoint, then the usual
    stages (STAGES=2, the paper's baseline: one refinement stage, not the release's five)."""
    build = tmp_path_factory.mktemp("build")
    result = run_make("ir", MODEL="openpose-vgg19", STAGES="2", BUILD=str(build), DATA=str(assets))
    assert result.returncode == 0, result.stderr
    assert "init --model 'openpose-vgg19'" in result.stdout  # make quotes what it is given
    return build / "openpose-vgg19"


# The artifacts scored on coco-mini under the val protocol, once per session (tests/validate reads
# them). onnx and onnx-sim are left out: their outputs equal torch's within 1e-4 on coco-mini
# images (tests/convert's parity), and `make all` scores them on coco-val for the gate.
MINI_VAL_ARTIFACTS = {
    "torch": "model.pth",
    "ir-fp32": "ir/fp32/model.xml",
    "ir-fp16": "ir/fp16/model.xml",
    "omz-int8": "ir/omz-int8/model.xml",
}


@pytest.fixture(scope="session")
def mini_val_reports(omz_build: Path, assets: Path) -> dict[str, dict]:
    """Each of MINI_VAL_ARTIFACTS validated on coco-mini (val protocol, accuracy only) into
    omz_build/reports/<name>-val.json; the reports as validate returned them."""
    from poseforge.validate.accuracy.validate import validate_artifact

    return {
        name: validate_artifact(
            omz_build / rel, assets / "coco-mini", "val", omz_build / "reports" / f"{name}-val.json", measure=False
        )
        for name, rel in MINI_VAL_ARTIFACTS.items()
    }


@pytest.fixture(scope="session")
def default_int8(omz_build: Path, assets: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The INT8 IR `make int8` makes: the FP32 IR quantized with every default setting, calibrated on
    coco-calib (train2017 images, disjoint from the val2017 images tests score); its quantization
    record. Made once per session for the tests that need a real INT8 network."""
    from poseforge.quantize.ptq import quantize_ir
    from poseforge.quantize.settings import QuantizeSettings

    out = tmp_path_factory.mktemp("default-int8") / "model.xml"
    calib = assets / "coco-calib" / "train2017"
    record = quantize_ir(omz_build / "ir" / "fp32" / "model.xml", out, calib, QuantizeSettings(),
                         coco_dir=assets / "coco-val")  # fmt: skip
    return out, record


@pytest.fixture(scope="session")
def made(tmp_path_factory: pytest.TempPathFactory, omz_build: Path, assets: Path) -> Made:
    """The fp32 bundle `make bundle` writes, made once for tests/bundle and tests/predict."""
    from tests.bundle.made import made_bundle  # imported here: made.py imports run_make from this file

    return made_bundle(tmp_path_factory, omz_build, assets)
