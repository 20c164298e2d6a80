"""The bundle's network input: what a camera gives, u8 BGR NHWC [1, H, W, 3].

OpenVINO's PrePostProcessor embeds the whole input conversion in the graph: u8 -> f32,
NHWC -> NCHW and the normalisation. Every poseforge IR starts with its normalisation
(`data * scale + shift`, a Multiply and an Add after the input); those two nodes are taken
out and the same normalisation is given to the PrePostProcessor as mean and scale,
(x - mean) / scale with mean = -shift / scale and scale = 1 / scale, so it is applied once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from poseforge.errors import PoseforgeError
from poseforge.metadata import derive, set_ir_metadata

IN_GRAPH = "inside the graph"  # what every poseforge IR's normalization formula says


def camera_input_model(model: Any, meta: dict[str, Any], **bundle_fields: Any) -> tuple[Any, dict[str, Any]]:
    """A copy of `model` taking u8 BGR NHWC [1, H, W, 3] (H, W dynamic), and its metadata, with
    `bundle_fields` (what the bundle adds: its source IR, decoder defaults, licence notice) in it."""
    import openvino as ov
    from openvino.preprocess import PrePostProcessor

    if meta.get("input", {}).get("layout") != "NCHW" or meta["input"].get("dtype") != "float32":
        raise PoseforgeError(f"{meta.get('artifact')} does not take float32 NCHW input: cannot make a bundle of it")
    if IN_GRAPH not in meta.get("normalization", {}).get("formula", ""):
        raise PoseforgeError(f"{meta.get('artifact')} does not normalise inside its graph: cannot make a bundle of it")
    name = meta["input"]["name"]
    model = model.clone()  # PrePostProcessor.build() changes the model it was given
    model.reshape({name: [1, 3, -1, -1]})
    mean, scale = _take_out_normalization(model, name, meta)
    ppp = PrePostProcessor(model)
    ppp.input(name).tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    ppp.input(name).model().set_layout(ov.Layout("NCHW"))
    ppp.input(name).preprocess().convert_element_type(ov.Type.f32).mean(mean).scale(scale)
    model = ppp.build()

    stride = meta["input"].get("size_multiple", 8)
    input_spec = {
        **meta["input"],
        "dtype": "uint8",
        "layout": "NHWC",
        "shape": [1, "H", "W", 3],
        "embedded_preprocessing": "u8 -> f32, NHWC -> NCHW and the normalisation (OpenVINO PrePostProcessor)",
        "normalization_inside_graph": True,
        "resize": "letterbox to deploy_shape: the largest bilinear resize that fits, centred, grey 128 around it",
    }
    grid = [f"H/{stride}", f"W/{stride}"]
    outputs = {
        key: {**spec, "dtype": "float32", "layout": "NCHW", "shape": [1, spec["channels"], *grid]}
        for key, spec in meta["outputs"].items()
    }
    normalization = {
        **meta["normalization"],
        "applied_by": "the PrePostProcessor inside the bundle IR: feed raw pixels 0..255, do not normalise them",
        "preprocessor": {"mean": mean, "scale": scale, "formula": "(x - mean) / scale, per BGR channel"},
    }
    bundle_meta = derive(
        meta,
        artifact=f"bundle-{meta['precision']}",
        input=input_spec,
        outputs=outputs,
        normalization=normalization,
        **bundle_fields,
    )
    set_ir_metadata(model, bundle_meta)
    return model, bundle_meta


def _take_out_normalization(model: Any, name: str, meta: dict[str, Any]) -> tuple[list[float], list[float]]:
    """Remove the Multiply and Add that follow the input; return the PrePostProcessor mean and scale
    that do the same. Refuses a graph whose first operations are not the recorded normalisation."""
    param = model.input(name).get_node()
    nodes = []
    output = param.output(0)
    for kind in ("Multiply", "Add"):
        consumers = [t.get_node() for t in output.get_target_inputs()]
        if len(consumers) != 1 or consumers[0].get_type_name() != kind:
            raise PoseforgeError(f"{meta.get('artifact')} does not start with its normalisation (a {kind} after "
                                 "the input): cannot embed it in a bundle")  # fmt: skip
        nodes.append(consumers[0])
        output = consumers[0].output(0)
    for target in list(output.get_target_inputs()):
        target.replace_source_output(param.output(0))
    model.validate_nodes_and_infer_types()
    factor, shift = (np.broadcast_to(_constant(node.input(1).get_source_output()).ravel(), 3) for node in nodes)
    return (-shift / factor).tolist(), (1.0 / factor).tolist()


def _constant(output: Any) -> np.ndarray:
    """The value of a Constant, looking through a (decompression) Convert."""
    node = output.get_node()
    if node.get_type_name() == "Convert":
        return _constant(node.input(0).get_source_output())
    if node.get_type_name() != "Constant":
        raise PoseforgeError(f"the input normalisation uses a non-constant {node.get_type_name()}")
    return node.get_data().astype(np.float64)
