"""Reading ONNX artifacts with one-line errors, and their poseforge metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from poseforge.errors import PoseforgeError
from poseforge.metadata import get_onnx_metadata


def read_onnx(path: str | Path, load_external_data: bool = True) -> tuple[Any, dict[str, Any]]:
    """(ModelProto, metadata) of an ONNX file poseforge made; clear errors otherwise."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise PoseforgeError(f"ONNX file not found: {path}")
    try:
        model = onnx.load(str(path), load_external_data=load_external_data)
    except Exception as exc:  # protobuf raises DecodeError, onnx raises several others
        raise PoseforgeError(f"{path} is not a readable ONNX file ({str(exc).splitlines()[0]})") from None
    meta = get_onnx_metadata(model)
    if meta is None:
        raise PoseforgeError(f"{path} carries no poseforge metadata: export it with `poseforge export`")
    return model, meta
