"""Inputs of the hostile suite, built once: a 3-image COCO set and a model folder validated on it.

Every preparation step is a CLI call that must succeed and print `wrote PATH`, so the steps
double as the proof that speed, validate and baseline say what they wrote.

Everything comes from the real assets and the session's `omz_build` (real IR, ONNX, checkpoint);
predict cases use the session's `made` bundle. Tests that change a file change a copy.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest

from poseforge.cli import main
from tests.hostile.helpers import bench_document
from tests.validate.conftest import make_coco

MODEL = "human-pose-estimation-0001"


def poseforge(*args: str | Path) -> None:
    """A preparation step through the CLI (in this process): it must succeed and say what it wrote."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([str(a) for a in args])
    assert code == 0, args
    target = args[args.index("-o") + 1] if "-o" in args else args[args.index("--baseline") + 1]
    assert f"wrote {target}" in out.getvalue(), out.getvalue()


@pytest.fixture(scope="session")
def coco3(tmp_path_factory: pytest.TempPathFactory, assets: Path) -> Path:
    """A COCO directory of 3 coco-mini images with people: the whole set, so reports on it are not subsets."""
    return make_coco(tmp_path_factory.mktemp("hostile") / "coco", assets, 3)


@pytest.fixture(scope="session")
def scored(tmp_path_factory: pytest.TempPathFactory, omz_build: Path, coco3: Path) -> Path:
    """build/<model> with a copy of the real IR FP32, its speed file and its val and deploy reports
    (with speed) on `coco3`: what bundle and gate read."""
    model_dir = tmp_path_factory.mktemp("scored") / MODEL
    shutil.copytree(omz_build / "ir" / "fp32", model_dir / "ir" / "fp32")
    xml, reports = model_dir / "ir" / "fp32" / "model.xml", model_dir / "reports"
    speed = reports / "speed" / "ir-fp32.json"
    poseforge("speed", xml, "--coco", coco3, "-o", speed, "--iterations", "1", "--seconds", "0.1", "--limit", "1")
    for protocol in ("val", "deploy"):
        poseforge("validate", xml, "--coco", coco3, "--protocol", protocol, "--speed", speed, "-o",
                  reports / f"ir-fp32-{protocol}.json")  # fmt: skip
    return model_dir


@pytest.fixture
def model_copy(scored: Path, tmp_path: Path) -> Path:
    """A private copy of `scored` to change."""
    copy = tmp_path / MODEL
    shutil.copytree(scored, copy, symlinks=True)
    return copy


@pytest.fixture(scope="session")
def gated(scored: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder that passes its gate: real reports, a bench.json, and the baseline made from them."""
    model_dir = tmp_path_factory.mktemp("gated") / scored.name
    shutil.copytree(scored / "reports", model_dir / "reports")
    (model_dir / "ir").mkdir()
    (model_dir / "ir" / "fp32").symlink_to(scored / "ir" / "fp32")
    bench = bench_document(model_dir, {"decode_over_latency": 0.05, "e2e_over_throughput": 0.9}, 3)
    (model_dir / "bench.json").write_text(json.dumps(bench))
    poseforge("baseline", model_dir, "--baseline", model_dir.parent / "baseline.json")
    return model_dir
