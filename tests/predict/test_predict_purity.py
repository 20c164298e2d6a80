"""predict needs openvino, numpy and opencv only: it runs with torch, onnx and nncf unimportable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.bundle.made import Made

BLOCKED = ("torch", "onnx", "onnxruntime", "onnxscript", "onnxsim", "nncf", "pycocotools", "matplotlib")

# Installed before poseforge is imported: any import of a blocked package fails as if it were
# not installed, and is recorded, so that a guarded optional import would be seen too.
BLOCKER = """
import json, sys
BLOCKED = {blocked!r}
attempts = []
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            attempts.append(name)
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
        return None
sys.meta_path.insert(0, Blocker())
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
    code = BLOCKER.format(blocked=BLOCKED, argv=argv)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"code": 0, "attempts": [], "loaded": []}, outcome
    assert len(json.loads((out / "predict.json").read_text())["images"]) == 3


def test_the_blocker_blocks(tmp_path: Path) -> None:
    """The check above can fail: the same blocker stops a command that needs torch."""
    argv = ["info", "lightweight-openpose"]
    result = subprocess.run([sys.executable, "-c", BLOCKER.format(blocked=BLOCKED, argv=argv)],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode != 0 and "blocked by the test" in result.stderr
