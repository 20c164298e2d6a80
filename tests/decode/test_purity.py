"""poseforge.decode must run on NumPy alone: no cv2, scipy, torch or any other package."""

import ast
from pathlib import Path

import poseforge.decode
from tests.conftest import run_blocked

DECODE_DIR = Path(poseforge.decode.__file__).parent
ALLOWED_ROOTS = {"__future__", "collections", "dataclasses", "functools", "itertools", "math", "numpy"}
ALLOWED_MODULES = {"poseforge.keypoints"}


def test_decode_sources_import_only_numpy_the_stdlib_and_the_schema() -> None:
    files = sorted(DECODE_DIR.glob("*.py"))
    assert len(files) >= 5
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level > 0:  # relative: inside poseforge.decode
                    continue
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name in ALLOWED_MODULES or name.split(".")[0] in ALLOWED_ROOTS, f"{path.name} imports {name}"


BLOCKED = ("cv2", "scipy", "torch", "openvino", "onnx", "onnxruntime", "pycocotools", "matplotlib")
_DECODE = r"""
import numpy as np
from poseforge.decode import DecoderParams, Geometry, Poses, decode, to_coco_results

heatmaps = np.zeros((19, 8, 8), np.float32)
heatmaps[:18, 4, 4] = 1.0
pafs = np.zeros((38, 8, 8), np.float32)
geometry = Geometry(scale_x=1.0, scale_y=1.0, pad_left=0.0, pad_top=0.0, image_width=64, image_height=64)
poses = decode(heatmaps, pafs, geometry, DecoderParams())
assert isinstance(poses, Poses)
to_coco_results(poses, 1)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED | {"poseforge"})
print("\n".join(loaded))
"""


def test_decode_runs_with_other_packages_blocked() -> None:
    result = run_blocked(BLOCKED, _DECODE, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded = set(result.stdout.split())
    # Nothing but the decoder, the schema and (if it exists) the package itself was imported.
    # poseforge/__init__ runs first; it needs only the standard library (poseforge.limits).
    allowed = {"poseforge", "poseforge.limits", "poseforge.keypoints"}
    assert loaded <= allowed | {m for m in loaded if m.startswith("poseforge.decode")}, loaded
    assert "poseforge.decode" in loaded
