"""predict needs openvino, numpy and opencv only: it runs with torch, onnx and nncf unimportable."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bundle.made import Made
from tests.conftest import run_blocked

BLOCKED = ("torch", "onnx", "onnxruntime", "onnxscript", "onnxsim", "nncf", "pycocotools", "matplotlib")

# Runs the CLI and reports what it tried to import and what ended up loaded.
CLI = """
import json
from poseforge.cli import main
code = main({argv!r})
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print(json.dumps({{"code": code, "attempts": attempts, "loaded": loaded}}))
"""


def test_predict_runs_without_torch_onnx_or_nncf(made: Made, coco_images: list[Path], tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for image in coco_images[:3]:
        (folder / image.name).write_bytes(image.read_bytes())
    out = tmp_path / "out"
    argv = ["predict", str(made.bundle), str(folder), "-o", str(out)]
    result = run_blocked(BLOCKED, CLI.format(argv=argv))
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"code": 0, "attempts": [], "loaded": []}, outcome
    assert len(json.loads((out / "predict.json").read_text())["images"]) == 3


def test_the_blocker_blocks(tmp_path: Path) -> None:
    """The check above can fail: the same blocker stops a command that needs torch."""
    argv = ["info", "lightweight-openpose"]
    result = run_blocked(BLOCKED, CLI.format(argv=argv))
    assert result.returncode == 0 and result.stderr.count("\n") == 1, result.stderr  # one line, and code 1:
    assert "needs torch, part of the conversion side: pip install 'poseforge[convert]'" in result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["code"] == 1 and "torch" in outcome["attempts"]
