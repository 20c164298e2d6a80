"""Import the Open Model Zoo human-pose-estimation-0001 weights from its FP16-INT8 IR.

Every convolution weight in that IR is a float16 constant behind a per-output-channel
FakeQuantize, followed by an Add holding the float16 bias. The weights are dequantized here
with the FakeQuantize formula in float64 from the IR's own constants: evaluating the
sub-graphs in OpenVINO would round them to float16 and move the outputs by up to 0.019.
The result is proved, on import, to reproduce the IR with its activation FakeQuantize nodes
bypassed (the exact FP32 reference) on a probe input.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from poseforge.errors import PoseforgeError
from poseforge.fileio import sha256_file
from poseforge.ir_files import ir_output, read_ir, save_ir
from poseforge.models import build_network
from poseforge.models.checkpoint import Checkpoint, make_checkpoint
from poseforge.runtime.openvino_runner import OpenVINORunner
from poseforge.runtime.options import ACCURACY

MODEL = "human-pose-estimation-0001"
# Beyond this the imported network is not the IR's (float32 rounding gives about 1e-6).
PROBE_TOLERANCE = 1e-4

_BACKBONE = ("conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv4_1", "conv4_2",
             "conv5_1", "conv5_2", "conv5_3", "conv5_4", "conv5_5")  # fmt: skip


def _layer_table() -> dict[str, str]:
    """IR convolution name -> torch module path of the HumanPoseEstimation0001 convolution."""
    table = {"conv1": "model.0.0"}
    for i, name in enumerate(_BACKBONE, start=1):
        table[f"{name}/dw"] = f"model.{i}.0"
        table[f"{name}/sep"] = f"model.{i}.2"
    table["conv4_3_CPM/al"] = "cpm.align.0"
    table["conv4_3_CPM/red"] = "cpm.reduce.0"
    for i in range(3):
        table[f"conv4_3_CPM/dw{i + 1}"] = f"cpm.trunk.{i}.0"
        table[f"conv4_3_CPM/dw{i + 1}/1x1" if i < 2 else "conv4_3_CPM/inc"] = f"cpm.trunk.{i}.2"
    table["conv4_4_CPM"] = "cpm.conv.0"
    for i in range(3):
        table[f"conv5_{i + 1}_CPM_L1"] = f"initial_stage.trunk.{i}.0"
    for branch, head in (("L1", "pafs"), ("L2", "heatmaps")):
        table[f"conv5_4_CPM_{branch}"] = f"initial_stage.{head}.0.0"
        table[f"conv5_5_CPM_{branch}"] = f"initial_stage.{head}.1.0"
        table[f"Mconv6_stage2_{branch}"] = f"refinement_stages.0.{head}.0.0"
        table[f"Mconv7_stage2_{branch}"] = f"refinement_stages.0.{head}.1.0"
    for i in range(5):
        block = f"refinement_stages.0.trunk.{i}"
        table[f"Mconv{i + 1}_stage2_L1/sq"] = f"{block}.initial.0"
        table[f"Mconv{i + 1}_stage2_L1/3x3"] = f"{block}.trunk.0.0"
        table[f"Mconv{i + 1}_stage2_L1/3x3/2"] = f"{block}.trunk.1.0"
    return table


LAYERS = _layer_table()


def constant_float64(output: Any) -> np.ndarray:
    """Evaluate a constant sub-graph (Constant, Convert, FakeQuantize, Reshape, ...) in float64."""
    node = output.get_node()
    kind = node.get_type_name()
    args = [i.get_source_output() for i in node.inputs()]
    if kind == "Constant":
        return node.get_data().astype(np.float64)
    if kind == "Convert":
        return constant_float64(args[0])
    if kind == "FakeQuantize":
        x, in_lo, in_hi, out_lo, out_hi = (constant_float64(a) for a in args)
        return fake_quantize(x, in_lo, in_hi, out_lo, out_hi, node.get_attributes()["levels"])
    if kind == "Reshape":
        return constant_float64(args[0]).reshape(tuple(node.get_output_shape(0)))
    if kind in ("Multiply", "Subtract", "Add"):
        a, b = constant_float64(args[0]), constant_float64(args[1])
        return {"Multiply": np.multiply, "Subtract": np.subtract, "Add": np.add}[kind](a, b)
    raise PoseforgeError(f"unexpected {kind} node {node.get_friendly_name()!r} in a weight sub-graph")


def fake_quantize(
    x: np.ndarray, in_lo: np.ndarray, in_hi: np.ndarray, out_lo: np.ndarray, out_hi: np.ndarray, levels: int
) -> np.ndarray:
    """The FakeQuantize formula of the OpenVINO opset, element-wise with broadcasting."""
    q = np.round((x - in_lo) / (in_hi - in_lo) * (levels - 1))
    y = q / (levels - 1) * (out_hi - out_lo) + out_lo
    y = np.where(x <= np.minimum(in_lo, in_hi), out_lo, y)
    return np.where(x > np.maximum(in_lo, in_hi), out_hi, y)


def bypass_activation_fakequantize(ov_model: Any) -> int:
    """Remove every FakeQuantize on activations (those fed by a non-constant), in place.

    What remains computes the network in floating point with the release's own weights: the
    exact FP32 reference of the INT8 IR. Returns how many nodes were bypassed.
    """
    count = 0
    for node in ov_model.get_ordered_ops():
        if node.get_type_name() != "FakeQuantize":
            continue
        source = node.input(0).get_source_output()
        if source.get_node().get_type_name() in ("Constant", "Convert"):
            continue  # a weight FakeQuantize
        node.output(0).replace(source)
        count += 1
    ov_model.validate_nodes_and_infer_types()
    return count


def _consumers(output: Any) -> list[Any]:
    return [t.get_node() for t in output.get_target_inputs()]


def _expected_activation(net: nn.Module, path: str) -> str | None:
    """The activation that follows a convolution in the torch module tree ("Relu", "Elu", None)."""
    parent_path, index = path.rsplit(".", 1)
    siblings = list(net.get_submodule(parent_path).children())
    after = siblings[int(index) + 1] if int(index) + 1 < len(siblings) else None
    return {nn.ReLU: "Relu", nn.ELU: "Elu"}.get(type(after)) if after is not None else None


def _check_conv(node: Any, conv: nn.Conv2d, name: str) -> None:
    attrs = node.get_attributes()
    grouped = node.get_type_name() == "GroupConvolution"
    expected = {
        "strides": list(conv.stride),
        "dilations": list(conv.dilation),
        "pads_begin": list(conv.padding),
        "pads_end": list(conv.padding),
    }
    got = {k: list(attrs[k]) for k in expected}
    if got != expected or grouped != (conv.groups > 1):
        raise PoseforgeError(
            f"IR layer {name!r} is not the expected convolution: {node.get_type_name()} {got}, "
            f"expected {'GroupConvolution' if conv.groups > 1 else 'Convolution'} {expected}"
        )


def read_weights(ov_model: Any, net: nn.Module) -> OrderedDict[str, torch.Tensor]:
    """Check the IR's convolutions against `net` and read their float64-dequantized weights and biases."""
    convs = {
        n.get_friendly_name().removesuffix("/WithoutBiases"): n
        for n in ov_model.get_ordered_ops()
        if n.get_type_name() in ("Convolution", "GroupConvolution")
    }
    missing = [name for name in LAYERS if name not in convs]
    extra = [name for name in convs if name not in LAYERS]
    if missing or extra:
        raise PoseforgeError(
            f"the IR is not {MODEL}: {len(convs)} convolutions, "
            f"missing {missing[:3] or 'none'}, unexpected {extra[:3] or 'none'}"
        )
    state = OrderedDict()
    for name, path in LAYERS.items():
        node, conv = convs[name], net.get_submodule(path)
        _check_conv(node, conv, name)
        weight = constant_float64(node.input(1).get_source_output())
        if weight.size != conv.weight.numel():
            raise PoseforgeError(
                f"IR layer {name!r} has {weight.size} weights, the network expects {tuple(conv.weight.shape)}"
            )
        adds = [c for c in _consumers(node.output(0)) if c.get_type_name() == "Add"]
        if len(adds) != 1:
            raise PoseforgeError(f"IR layer {name!r} is not followed by its bias Add")
        bias = constant_float64(adds[0].input(1).get_source_output())
        if bias.size != conv.out_channels:
            raise PoseforgeError(f"IR layer {name!r} has a bias of {bias.size} values, expected {conv.out_channels}")
        activation = {c.get_type_name() for c in _consumers(adds[0].output(0))} & {"Relu", "Elu"}
        expected = _expected_activation(net, path)
        if activation != ({expected} if expected else set()):
            raise PoseforgeError(
                f"IR layer {name!r} is followed by {sorted(activation) or 'no activation'}, expected {expected}"
            )
        if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
            raise PoseforgeError(f"IR layer {name!r} has non-finite weights: the .bin does not match the .xml")
        state[f"{path}.weight"] = torch.from_numpy(weight.reshape(conv.weight.shape).astype(np.float32))
        state[f"{path}.bias"] = torch.from_numpy(bias.reshape(-1).astype(np.float32))
    return state


def read_normalization(ov_model: Any) -> dict[str, list[float]]:
    """The input scale and shift the IR applies right after its `data` input."""
    (param,) = ov_model.get_parameters()
    node, scale, shift = param, None, None
    while True:
        (nxt,) = _consumers(node.output(0))[:1] or [None]
        kind = nxt.get_type_name() if nxt is not None else None
        if kind == "Convert":
            node = nxt
        elif kind == "Multiply" and scale is None and shift is None:
            scale, node = constant_float64(nxt.input(1).get_source_output()), nxt
        elif kind == "Add" and shift is None:
            shift, node = constant_float64(nxt.input(1).get_source_output()), nxt
        else:
            break
    if scale is None or shift is None:
        raise PoseforgeError("the IR does not start with the expected Multiply/Add input normalisation")
    return {
        "scale": np.broadcast_to(scale.reshape(-1), 3).astype(float).tolist(),
        "shift": np.broadcast_to(shift.reshape(-1), 3).astype(float).tolist(),
    }


def output_names(ov_model: Any) -> dict[str, str]:
    """The IR's tensor names for the last-stage heatmaps (19 channels) and pafs (38 channels)."""
    by_channels = {out.get_partial_shape()[1].get_length(): out.get_any_name() for out in ov_model.outputs}
    if set(by_channels) != {19, 38}:
        raise PoseforgeError(f"the IR's outputs are not 19 heatmaps and 38 pafs: {sorted(by_channels)} channels")
    return {"heatmaps": by_channels[19], "pafs": by_channels[38]}


def release_runner(ov_model: Any, bypass_fakequantize: bool = False) -> OpenVINORunner:
    """The release IR on the common OpenVINO runner (precision hint f32, any input size).

    With `bypass_fakequantize`, a copy with its activation FakeQuantize nodes removed: the
    exact FP32 reference of an INT8 release.
    """
    model = ov_model.clone()
    if bypass_fakequantize:
        bypass_activation_fakequantize(model)
    metadata = {
        "artifact": "omz fp32 reference" if bypass_fakequantize else "omz int8 release",
        "input": {"name": model.input(0).get_any_name()},
        "outputs": {key: {"name": name} for key, name in output_names(model).items()},
    }
    return OpenVINORunner.from_model(model, metadata, ACCURACY, "the release IR")


def probe_input(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Deterministic raw-pixel probe (uniform noise over 0..255, integers as a camera gives)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, size=shape).round().astype(np.float32)


def release_source(xml_path: str | Path) -> dict[str, Any]:
    """Where the weights came from, for the metadata: the release's files and their licence."""
    return {
        "kind": "openvino-ir",
        "file": Path(xml_path).name,
        "sha256": sha256_file(xml_path),
        "bin_sha256": sha256_file(Path(xml_path).with_suffix(".bin")),
        "license": "Apache-2.0, Open Model Zoo (Intel)",
    }


def import_ir(xml_path: str | Path) -> Checkpoint:
    """Read, check, dequantize and verify; return the checkpoint of the imported network."""
    ov_model = read_ir(xml_path)
    net = build_network(MODEL)
    state = read_weights(ov_model, net)
    normalization = read_normalization(ov_model)
    output_names(ov_model)
    ckpt = make_checkpoint(MODEL, state, release_source(xml_path), normalization)
    verify_against_ir(ckpt, ov_model)
    return ckpt


def verify_against_ir(ckpt: Checkpoint, ov_model: Any) -> float:
    """Max abs difference between the checkpoint and the IR with activation FakeQuantize bypassed."""
    shape = tuple(ov_model.input(0).get_partial_shape().get_min_shape())
    if len(shape) != 4 or shape[2] < 8 or shape[3] < 8:
        shape = (1, 3, 256, 456)
    data = probe_input(shape)
    expected = release_runner(ov_model, bypass_fakequantize=True).run(data)
    with torch.no_grad():
        got = ckpt.deployable()(torch.from_numpy(data))
    diff = max(float(np.abs(g.numpy() - e).max()) for g, e in zip(got, expected, strict=True))
    if not diff <= PROBE_TOLERANCE:
        raise PoseforgeError(
            f"the imported network does not reproduce the IR (max abs difference {diff:.3g} > {PROBE_TOLERANCE}): "
            f"its topology is not the {MODEL} one"
        )
    return diff


def register_reference_ir(xml_path: str | Path, output: str | Path) -> Path:
    """Save the Open Model Zoo INT8 release, unchanged, with poseforge metadata in its rt_info.

    The release becomes the `omz-int8` reference artifact: its own output names and static
    256x456 input are recorded in the metadata, which is all the runners need. OpenVINO
    re-serialises the graph (IR v10 -> v11); the copy is proved to compute exactly what the
    original does, and keeps its u8 weight storage (same .bin size).
    """

    from poseforge.fileio import atomic_output
    from poseforge.metadata import derive, network_metadata, set_ir_metadata

    ir_output(output)
    ov_model = read_ir(xml_path)
    read_weights(ov_model, build_network(MODEL))  # the topology check: it is the expected network
    names = output_names(ov_model)
    shape = [int(d) for d in ov_model.input(0).get_shape()]
    normalization = read_normalization(ov_model)
    meta = network_metadata(MODEL, normalization, release_source(xml_path), deploy_shape=(shape[2], shape[3]))
    meta["input"].update(name=ov_model.input(0).get_any_name(), shape=shape)
    for key, name in names.items():
        meta["outputs"][key]["name"] = name
    meta = derive(
        meta,
        artifact="omz-int8",
        precision="int8",
        notes=["Intel's own FP16-INT8 release of human-pose-estimation-0001 (Open Model Zoo 2021.2), unmodified"],
    )
    set_ir_metadata(ov_model, meta)
    _restore_u8_weight_storage(ov_model)
    with atomic_output(output, ".bin") as tmp:
        save_ir(ov_model, tmp)
        copy = read_ir(tmp)
        data = probe_input(tuple(shape))
        original, saved = release_runner(read_ir(xml_path)).run(data), release_runner(copy).run(data)
        diff = max(float(np.abs(a - b).max()) for a, b in zip(original, saved, strict=True))
        if diff != 0.0:
            raise PoseforgeError(f"re-saving {xml_path} changed its outputs (max abs {diff:.3g}): not written")
    return Path(output)


def _restore_u8_weight_storage(ov_model: Any) -> int:
    """Store integer-valued weight constants as u8 + Convert again, as the release's .bin does.

    Reading an IR v10 folds its u8 -> f16 weight Converts; saved as is, the copy would hold
    the same values in twice the bytes.
    """
    import openvino.opset13 as ops

    restored = 0
    for node in ov_model.get_ordered_ops():
        if node.get_type_name() != "FakeQuantize":
            continue
        const = node.input(0).get_source_output().get_node()
        if const.get_type_name() != "Constant":
            continue
        values = const.get_data()
        if values.size and values.min() >= 0 and values.max() <= 255 and np.all(values == np.round(values)):
            stored = ops.convert(ops.constant(values.astype(np.uint8)), const.get_output_element_type(0))
            node.input(0).replace_source_output(stored.output(0))
            restored += 1
    return restored
