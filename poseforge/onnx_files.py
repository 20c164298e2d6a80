"""Reading ONNX artifacts with one-line errors, and their poseforge metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from poseforge.documents import regular_file
from poseforge.errors import PoseforgeError
from poseforge.metadata import get_onnx_metadata


def read_onnx(path: str | Path, load_external_data: bool = True) -> tuple[Any, dict[str, Any]]:
    """(ModelProto, metadata) of an ONNX file poseforge made; clear errors otherwise."""
    import onnx

    path = regular_file(path, "ONNX file")
    try:
        model = onnx.load(str(path), load_external_data=load_external_data)
    except Exception as exc:  # protobuf raises DecodeError, onnx raises several others
        raise PoseforgeError(f"{path} is not a readable ONNX file ({str(exc).splitlines()[0]})") from None
    meta = get_onnx_metadata(model, path)
    if meta is None:
        raise PoseforgeError(f"{path} carries no poseforge metadata: export it with `poseforge export`")
    check_interface(model, path)
    return model, meta


def check_interface(model: Any, path: str | Path) -> None:
    """The interface every poseforge ONNX file has: float `data` [N, 3, H, W] in, `heatmaps` and `pafs` out."""
    import onnx

    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    outputs = [o.name for o in model.graph.output]
    if [i.name for i in inputs] != ["data"] or outputs != ["heatmaps", "pafs"]:
        raise PoseforgeError(
            f"{path} takes {[i.name for i in inputs]} and returns {outputs}: not a poseforge network "
            "(data in; heatmaps, pafs out)"
        )
    tensor = inputs[0].type.tensor_type
    if tensor.elem_type != onnx.TensorProto.FLOAT or len(tensor.shape.dim) != 4:
        raise PoseforgeError(f"{path}: its input is not a float32 tensor of rank 4 ([N, 3, H, W])")
