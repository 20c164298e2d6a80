"""PyTorch checkpoint -> ONNX.

Opset 18, explicitly: it is the lowest opset the dynamo-based `torch.onnx.export` writes,
and onnxruntime, onnxsim and OpenVINO's ONNX frontend all read it. The graph takes raw BGR
pixels `data` [1, 3, H, W] with H and W dynamic multiples of 8 and returns the last stage's
`heatmaps` and `pafs`.
"""

from __future__ import annotations

import ast
import itertools
import logging
import warnings
from pathlib import Path

import onnx
import torch

from poseforge.errors import PoseforgeError
from poseforge.fileio import atomic_output, sha256_file
from poseforge.keypoints import STRIDE
from poseforge.metadata import derive, get_onnx_metadata, set_onnx_metadata
from poseforge.models.checkpoint import load_checkpoint

OPSET = 18
INPUT = "data"
OUTPUTS = ("heatmaps", "pafs")
MAX_SIDE = 4096  # largest input side the exported shape constraints admit


def export_onnx(checkpoint: str | Path, output: str | Path) -> Path:
    ckpt = load_checkpoint(checkpoint)
    net = ckpt.deployable()
    height, width = ckpt.metadata["input"]["deploy_shape"]
    example = torch.full((1, 3, height, width), 128.0)
    # H and W are 8 * k: the network's three stride-2 layers then divide them exactly.
    rows = torch.export.Dim("rows", min=1, max=MAX_SIDE // STRIDE)
    cols = torch.export.Dim("cols", min=1, max=MAX_SIDE // STRIDE)
    _quiet_exporter()
    with atomic_output(output) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                net,
                (example,),
                str(tmp),
                input_names=[INPUT],
                output_names=list(OUTPUTS),
                opset_version=OPSET,
                dynamic_shapes={INPUT: {2: STRIDE * rows, 3: STRIDE * cols}},
                dynamo=True,
                external_data=False,
                verbose=False,
            )
        except Exception as exc:  # the exporter raises many types; report one line
            raise PoseforgeError(f"ONNX export of {checkpoint} failed: {str(exc).splitlines()[0]}") from exc
        model = onnx.load(str(tmp))
        _name_dynamic_dims(model)
        _name_nodes_by_module(model)
        # The exporter's graph-level notes (its program signature, shape constraints printed from a
        # set, so in no fixed order): debug text, and what kept two exports from being the same bytes.
        del model.graph.metadata_props[:]
        meta = derive(
            ckpt.metadata,
            artifact="onnx",
            precision="fp32",
            onnx_opset=OPSET,
            parent={"file": Path(checkpoint).name, "sha256": sha256_file(checkpoint)},
        )
        set_onnx_metadata(model, meta)
        check_onnx(model, str(output))
        onnx.save(model, str(tmp))
    return Path(output)


def check_onnx(model: onnx.ModelProto, name: str) -> None:
    """onnx.checker (full, with shape inference) plus the interface every artifact promises."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise PoseforgeError(f"{name} fails onnx.checker: {str(exc).splitlines()[0]}") from None
    inputs = [i.name for i in model.graph.input]
    outputs = [o.name for o in model.graph.output]
    if inputs != [INPUT] or outputs != list(OUTPUTS):
        raise PoseforgeError(f"{name} has inputs {inputs} and outputs {outputs}, expected [data] and {OUTPUTS}")
    if get_onnx_metadata(model) is None:
        raise PoseforgeError(f"{name} carries no poseforge metadata")


def _name_dynamic_dims(model: onnx.ModelProto) -> None:
    """Give the dynamic input dims readable names instead of the exporter's '8*rows'."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"


def _name_nodes_by_module(model: onnx.ModelProto) -> None:
    """Name each node after the torch module it comes from ("cpm.align.0/Conv"), not the
    exporter's "node_conv2d_12", and drop the exporter's per-node debug metadata (stack traces
    with local paths). Readable names carry into the IR: ignored scopes and reports use them."""
    used: set[str] = set()
    for node in model.graph.node:
        props = {p.key: p.value for p in node.metadata_props}
        scopes = ast.literal_eval(props.get("pkg.torch.onnx.name_scopes", "[]"))
        module = scopes[-2].removeprefix("network.") if len(scopes) >= 2 and scopes[-2] else "input"
        name = base = f"{module}/{node.op_type}"
        for i in itertools.count(1):
            if name not in used:
                break
            name = f"{base}_{i}"
        used.add(name)
        node.name = name
        del node.metadata_props[:]


def _quiet_exporter() -> None:
    # The exporter logs progress and notes about optional torchvision ops: not ours to show.
    for name in ("torch.onnx", "torch.onnx._internal.exporter._registration", "torch._export"):
        logging.getLogger(name).setLevel(logging.ERROR)
