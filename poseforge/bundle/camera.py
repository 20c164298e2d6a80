"""The bundle's network input: what a camera gives, u8 BGR NHWC [1, H, W, 3].

OpenVINO's PrePostProcessor embeds the conversion (u8 -> f32, NHWC -> NCHW) in the graph.
The normalisation (`data * scale + shift`) is already the graph's first operation in every
poseforge IR, so it is not added again: the bundle IR still takes raw pixels 0..255.
"""

from __future__ import annotations

from typing import Any

from poseforge.errors import PoseforgeError
from poseforge.metadata import derive, set_ir_metadata

IN_GRAPH = "inside the graph"  # what every poseforge IR's normalization formula says


def camera_input_model(model: Any, meta: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """A copy of `model` taking u8 BGR NHWC [1, H, W, 3] (H, W dynamic), and its metadata."""
    import openvino as ov
    from openvino.preprocess import PrePostProcessor

    if meta.get("input", {}).get("layout") != "NCHW" or meta["input"].get("dtype") != "float32":
        raise PoseforgeError(f"{meta.get('artifact')} does not take float32 NCHW input: cannot make a bundle of it")
    if IN_GRAPH not in meta.get("normalization", {}).get("formula", ""):
        raise PoseforgeError(f"{meta.get('artifact')} does not normalise inside its graph: cannot make a bundle of it")
    name = meta["input"]["name"]
    model = model.clone()  # PrePostProcessor.build() changes the model it was given
    model.reshape({name: [1, 3, -1, -1]})
    ppp = PrePostProcessor(model)
    ppp.input(name).tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    ppp.input(name).model().set_layout(ov.Layout("NCHW"))
    ppp.input(name).preprocess().convert_element_type(ov.Type.f32)
    model = ppp.build()

    stride = meta["input"].get("size_multiple", 8)
    input_spec = {
        **meta["input"],
        "dtype": "uint8",
        "layout": "NHWC",
        "shape": [1, "H", "W", 3],
        "embedded_preprocessing": "u8 -> f32 and NHWC -> NCHW (OpenVINO PrePostProcessor), inside the graph",
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
        "applied_by": "the graph: feed raw pixels 0..255, do not normalise them again",
    }
    bundle_meta = derive(
        meta, artifact=f"bundle-{meta['precision']}", input=input_spec, outputs=outputs, normalization=normalization
    )
    set_ir_metadata(model, bundle_meta)
    return model, bundle_meta
