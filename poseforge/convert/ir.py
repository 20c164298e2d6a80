"""Simplified ONNX -> OpenVINO IR, FP32 (weights kept in float32) or FP16 (weights compressed)."""

from __future__ import annotations

from pathlib import Path

from poseforge.errors import PoseforgeError
from poseforge.fileio import atomic_output, sha256_file
from poseforge.ir_files import ir_output, openvino_reason, save_ir
from poseforge.metadata import derive, set_ir_metadata
from poseforge.onnx_files import read_onnx

PRECISIONS = ("fp32", "fp16")


def convert_ir(source: str | Path, output: str | Path, precision: str) -> Path:
    import openvino as ov

    if precision not in PRECISIONS:
        raise PoseforgeError(f"unknown IR precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    ir_output(output)
    _, meta = read_onnx(source, load_external_data=False)
    try:
        model = ov.convert_model(str(source))
    except Exception as exc:
        raise PoseforgeError(f"OpenVINO cannot convert {source}: {openvino_reason(exc)}") from exc
    meta = derive(
        meta,
        artifact=f"ir-{precision}",
        precision=precision,
        parent={"file": Path(source).name, "sha256": sha256_file(source)},
    )
    set_ir_metadata(model, meta)
    with atomic_output(output, ".bin") as tmp:
        save_ir(model, tmp, compress_to_fp16=precision == "fp16")
    return Path(output)
