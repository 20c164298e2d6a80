"""Metadata that travels inside every artifact.

One JSON document describes an artifact: which network, what its input wants, what its
outputs mean, the keypoint schema, where the weights came from and which toolchain made it.
Checkpoints carry it as a dict, ONNX files as `metadata_props["poseforge"]`, OpenVINO IRs as
`rt_info["poseforge"]["metadata"]`, so a later stage never needs to be told what an earlier
one did. Runtime libraries are not imported here: the functions take their model objects.
"""

from __future__ import annotations

import json
import platform
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from poseforge.artifacts import DEPLOY_SHAPE
from poseforge.documents import METADATA, check_document, loads
from poseforge.keypoints import NUM_HEATMAPS, NUM_PAFS, STRIDE, schema_metadata

FORMAT_VERSION = 1
ONNX_KEY = "poseforge"
IR_KEY = ("poseforge", "metadata")
MAX_METADATA_BYTES = 4 << 20

_TOOLCHAIN = ("poseforge", "torch", "onnx", "onnxscript", "onnxsim", "onnxruntime", "openvino", "nncf", "numpy")


def toolchain_versions() -> dict[str, str]:
    """Installed versions of the packages that can touch an artifact."""
    versions = {"python": platform.python_version()}
    for package in _TOOLCHAIN:
        try:
            versions[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def network_metadata(
    model: str,
    normalization: dict[str, list[float]],
    source: dict[str, Any],
    config: dict[str, Any] | None = None,
    deploy_shape: tuple[int, int] = DEPLOY_SHAPE,
) -> dict[str, Any]:
    """The metadata of a network as exported: raw BGR pixels in, last-stage maps out."""
    return {
        "format_version": FORMAT_VERSION,
        "model": model,
        "config": dict(config or {}),
        "input": {
            "name": "data",
            "dtype": "float32",
            "layout": "NCHW",
            "shape": [1, 3, "H", "W"],
            "color_order": "BGR",
            "value_range": [0, 255],
            "size_multiple": STRIDE,
            "deploy_shape": list(deploy_shape),
        },
        "normalization": {
            "formula": "data * scale + shift, per BGR channel, inside the graph",
            "scale": list(normalization["scale"]),
            "shift": list(normalization["shift"]),
        },
        "outputs": {
            "heatmaps": {
                "name": "heatmaps",
                "channels": NUM_HEATMAPS,
                "stride": STRIDE,
                "meaning": "18 keypoint confidence maps in keypoint_names order, then background",
            },
            "pafs": {
                "name": "pafs",
                "channels": NUM_PAFS,
                "stride": STRIDE,
                "meaning": "part affinity fields: for limb i, channels limb_paf_channels[i] = (x, y)",
            },
        },
        "keypoints": schema_metadata(),
        "source": dict(source),
        "versions": toolchain_versions(),
    }


def derive(meta: dict[str, Any], **updates: Any) -> dict[str, Any]:
    """A copy of `meta` for the next stage: updated keys and the current toolchain versions."""
    out = json.loads(json.dumps(meta))
    out.update(updates)
    out["versions"] = toolchain_versions()
    return out


def set_onnx_metadata(model_proto: Any, meta: dict[str, Any]) -> None:
    for prop in list(model_proto.metadata_props):
        if prop.key == ONNX_KEY:
            model_proto.metadata_props.remove(prop)
    model_proto.metadata_props.add(key=ONNX_KEY, value=json.dumps(meta, sort_keys=True))


def read_metadata(text: str, where: Any) -> dict[str, Any]:
    """Metadata JSON found inside a model, parsed within limits and checked (`documents.METADATA`)."""
    from poseforge.errors import PoseforgeError

    if len(text) > MAX_METADATA_BYTES:
        raise PoseforgeError(f"{where}: poseforge metadata of {len(text)} bytes is larger than any poseforge writes")
    return check_document(loads(text, "poseforge metadata", where), METADATA, where)


def get_onnx_metadata(model_proto: Any, where: Any = "the ONNX model") -> dict[str, Any] | None:
    for prop in model_proto.metadata_props:
        if prop.key == ONNX_KEY:
            return read_metadata(prop.value, where)
    return None


def set_ir_metadata(ov_model: Any, meta: dict[str, Any]) -> None:
    ov_model.set_rt_info(json.dumps(meta, sort_keys=True), list(IR_KEY))


def get_ir_metadata(ov_model: Any, where: Any = "the IR") -> dict[str, Any] | None:
    if not ov_model.has_rt_info(list(IR_KEY)):
        return None
    return read_metadata(ov_model.get_rt_info(list(IR_KEY)).astype(str), where)


def calibration_record(meta: dict[str, Any]) -> dict[str, Any] | None:
    """A network's calibration record, as its quantization wrote it in its metadata (None for others)."""
    return (meta.get("quantization") or {}).get("calibration")


def calibration_files(meta: dict[str, Any]) -> list[Path]:
    """The images a network was calibrated on, as its metadata records them (none for others)."""
    calibration = calibration_record(meta) or {}
    folder = Path(calibration.get("folder") or ".")
    return [folder / name for name in calibration.get("files", [])]
