"""Reading OpenVINO IRs with checks, and compiling them with explicit, recorded settings.

OpenVINO itself reads a .bin that is longer than its .xml needs without complaint, and on
this CPU silently runs "FP32" models in bf16: both are made explicit here.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from poseforge.documents import regular_file
from poseforge.errors import PoseforgeError
from poseforge.fileio import reading

MAX_XML_BYTES = 64 << 20  # a network's graph; its weights are in the .bin
MAX_BIN_BYTES = 8 << 30


def _offset(value: str | None, what: str, xml_path: Path) -> int:
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 15:
        raise PoseforgeError(f"{xml_path} is not a valid OpenVINO IR: a weight {what} of {str(value)[:20]!r}")
    return int(value)


def check_ir_files(xml_path: str | Path) -> tuple[Path, Path]:
    """Both files exist and the .bin holds exactly the bytes the .xml refers to. Both are inputs of
    the command (fileio.reading): none of its outputs may replace them."""
    xml_path = reading(xml_path, f"the IR {xml_path}")
    bin_path = reading(xml_path.with_suffix(".bin"), f"the IR {xml_path}")
    regular_file(xml_path, "OpenVINO IR")
    if not bin_path.is_file():
        raise PoseforgeError(f"OpenVINO IR {xml_path} has no weights file {bin_path.name} beside it")
    if xml_path.stat().st_size > MAX_XML_BYTES:
        raise PoseforgeError(f"{xml_path} is larger than any network graph ({MAX_XML_BYTES} bytes at most)")
    size = bin_path.stat().st_size
    if size > MAX_BIN_BYTES:
        raise PoseforgeError(f"{bin_path} is larger than any pose network's weights ({MAX_BIN_BYTES} bytes at most)")
    try:
        root = ET.parse(xml_path).getroot()  # expat: no external entities, entity expansion bounded
    except ET.ParseError as exc:
        raise PoseforgeError(f"{xml_path} is not an OpenVINO IR xml ({exc})") from None
    if root.tag != "net":
        raise PoseforgeError(f"{xml_path} is not an OpenVINO IR xml (root element <{root.tag}>)")
    needed = max(
        (
            _offset(d.get("offset"), "offset", xml_path) + _offset(d.get("size"), "size", xml_path)
            for d in root.iter("data")
            if d.get("offset") is not None
        ),
        default=0,
    )
    if size < needed:
        raise PoseforgeError(f"{bin_path} is truncated: {size} bytes, its .xml refers to {needed}")
    if size > needed:
        raise PoseforgeError(
            f"{bin_path} does not match {xml_path.name}: {size} bytes where the .xml refers to {needed}"
        )
    return xml_path, bin_path


def read_ir(xml_path: str | Path, core: Any = None) -> Any:
    """`ov.Model` from an IR, after `check_ir_files`."""
    import openvino as ov

    xml_path, bin_path = check_ir_files(xml_path)
    core = core or ov.Core()
    try:
        return core.read_model(str(xml_path), str(bin_path))
    except Exception as exc:  # OpenVINO raises RuntimeError and others on a graph it cannot read
        raise PoseforgeError(f"OpenVINO cannot read {xml_path}: {openvino_reason(exc)}") from None


def openvino_reason(exc: BaseException) -> str:
    """Why OpenVINO failed, in its own words: the last line of its message (the first names the C++
    source line of the check that failed, "Check 'false' failed at src/frontends/...")."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1][:300] if lines else type(exc).__name__


def graph_precision(model: Any) -> str:
    """The precision the graph itself is in, whatever its metadata says: int8 where it quantizes
    (FakeQuantize, or 8-bit weights), fp16 where its weights are stored in half precision, else fp32."""
    constants = set()
    for op in model.get_ops():
        kind = op.get_type_name()
        if kind == "FakeQuantize":
            return "int8"
        if kind == "Constant":
            constants.add(op.get_element_type().get_type_name())
    if constants & {"i8", "u8", "i4", "u4"}:
        return "int8"
    return "fp16" if "f16" in constants else "fp32"


def ir_metadata(model: Any, path: str | Path) -> dict[str, Any]:
    """An IR's poseforge metadata (rt_info), read and checked; a one-line error if it has none."""
    from poseforge.metadata import get_ir_metadata

    meta = get_ir_metadata(model, path)
    if meta is None:
        raise PoseforgeError(
            f"{path} carries no poseforge metadata (rt_info): convert it with `poseforge convert`, "
            "or register an Open Model Zoo IR with `poseforge reference-ir`"
        )
    return meta


def ir_output(path: str | Path) -> Path:
    """`path` if an IR can be written there: OpenVINO writes NAME.xml and NAME.bin, and nothing else
    (checked before the work, not after it, when the temporary file's name is all it would say)."""
    path = Path(path)
    if path.suffix != ".xml":
        raise PoseforgeError(f"-o {path}: an OpenVINO IR is written as NAME.xml (its weights as NAME.bin beside it)")
    return path


def save_ir(model: Any, path: str | Path, compress_to_fp16: bool = False) -> None:
    """ov.save_model to `path` (and its .bin), with a full disk as the one-line error it is: OpenVINO
    removes its partial files and says only "iostream error", so the free space is what tells."""
    import shutil

    import openvino as ov

    path = Path(path)
    try:
        ov.save_model(model, str(path), compress_to_fp16=compress_to_fp16)
    except Exception as exc:  # OpenVINO raises RuntimeError and others
        weights = sum(op.get_byte_size() for op in model.get_ops() if op.get_type_name() == "Constant")
        if shutil.disk_usage(path.parent).free < weights + (1 << 20):
            raise PoseforgeError(
                f"no space left on the device holding {path}: nothing written, the previous state kept"
            ) from None
        raise PoseforgeError(f"OpenVINO cannot write {path}: {openvino_reason(exc)}") from None
