"""ONNX -> simplified ONNX with onnxsim, checked by onnxsim itself and by our own comparison."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from poseforge.errors import PoseforgeError
from poseforge.fileio import atomic_output, sha256_file
from poseforge.metadata import derive, set_onnx_metadata
from poseforge.onnx_files import read_onnx

CHECK_RUNS = 3
TOLERANCE = 1e-4  # max abs difference between original and simplified outputs


def simplify_onnx(source: str | Path, output: str | Path) -> Path:
    import onnxsim

    model, meta = read_onnx(source)
    height, width = meta["input"]["deploy_shape"]
    try:
        simplified, ok = onnxsim.simplify(
            model, check_n=CHECK_RUNS, test_input_shapes={"data": [1, 3, height, width]}, certify=False
        )
    except Exception as exc:
        raise PoseforgeError(f"onnxsim failed on {source}: {str(exc).splitlines()[0]}") from exc
    if not ok:
        raise PoseforgeError(f"onnxsim's own check failed: the simplified {source} gives different outputs")
    diff = max_output_difference(model, simplified, (1, 3, height, width))
    if diff > TOLERANCE:
        raise PoseforgeError(f"simplified model differs from {source} by {diff:.3g} (> {TOLERANCE})")
    meta = derive(
        meta,
        artifact="onnx-sim",
        simplifier=f"onnxsim {onnxsim.__version__}",
        parent={"file": Path(source).name, "sha256": sha256_file(source)},
    )
    set_onnx_metadata(simplified, meta)
    with atomic_output(output) as tmp:
        onnx.save(simplified, str(tmp))
    return Path(output)


def max_output_difference(a: onnx.ModelProto, b: onnx.ModelProto, shape: tuple[int, ...]) -> float:
    """Run both models in onnxruntime on the same raw-pixel input; largest output difference."""
    import onnxruntime as ort

    data = np.random.default_rng(0).uniform(0, 255, size=shape).astype(np.float32)
    outs = []
    for model in (a, b):
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        outs.append(session.run(None, {"data": data}))
    return max(float(np.abs(x - y).max()) for x, y in zip(*outs, strict=True))
