"""Parameters and compute of an OpenPose-family network, per part, counted from the module itself.

Every Conv2d gets a forward hook that records its output shape, so the count follows the real
module tree: change the architecture and the numbers change with it. The forward pass runs on
PyTorch's meta device (shapes only, no arithmetic), so even the 6-stage VGG network counts instantly.

Conventions: a convolution costs one multiply-accumulate (MAC) per weight per output element,
output elements x (input channels / groups) x kernel area; FLOPs = 2 x MACs. Element-wise
operations are counted apart (`other_ops`, under 1% of any network here): one per output element
of each bias add, activation and BatchNorm, one per window element of each pooling; residual adds
and concatenations are not counted. The Lightweight OpenPose paper's "GFLOPs" are MACs (see
`poseforge.analysis.paper`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from poseforge.errors import PoseforgeError
from poseforge.keypoints import STRIDE
from poseforge.limits import MAX_IMAGE_PIXELS
from poseforge.models import build_network, get_spec

PAPER_INPUT = (368, 368)  # height, width of the paper's complexity tables
CPM_PARTS = ("conv4_3", "conv4_4")


@dataclass(frozen=True)
class Part:
    name: str  # backbone, conv4_3, conv4_4, initial, refinement 1, refinement 2, ...
    params: int
    macs: int
    other_ops: int = 0  # element-wise: bias adds, activations, BatchNorm, pooling

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9

    @property
    def gflops(self) -> float:
        return 2 * self.macs / 1e9


@dataclass(frozen=True)
class Complexity:
    model: str
    config: dict[str, Any]
    input_hw: tuple[int, int]
    parts: list[Part] = field(default_factory=list)

    @property
    def params(self) -> int:
        return sum(p.params for p in self.parts)

    @property
    def macs(self) -> int:
        return sum(p.macs for p in self.parts)

    @property
    def other_ops(self) -> int:
        return sum(p.other_ops for p in self.parts)

    @property
    def stages(self) -> int:
        """Stages as the paper counts them: the initial one plus the refinement ones."""
        return 1 + sum(p.name.startswith("refinement") for p in self.parts)

    def part(self, name: str) -> Part:
        for p in self.parts:
            if p.name == name:
                return p
        raise KeyError(name)

    def group(self, *names: str) -> Part:
        """Several parts summed, e.g. the CPM (conv4_3 + conv4_4)."""
        chosen = [self.part(n) for n in names]
        return Part(
            "+".join(names),
            sum(p.params for p in chosen),
            sum(p.macs for p in chosen),
            sum(p.other_ops for p in chosen),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "config": self.config,
            "input": list(self.input_hw),
            "stages": self.stages,
            "convention": "MACs: output elements x input channels per group x kernel area; FLOPs = 2 x MACs; "
            "other_ops: one per element of each bias add, activation, BatchNorm and pooling window",
            "parts": [{"name": p.name, **_numbers(p)} for p in self.parts],
            "total": _numbers(Part("total", self.params, self.macs, self.other_ops)),
        }


def _numbers(part: Part) -> dict[str, Any]:
    return {
        "params": part.params,
        "macs": part.macs,
        "gmacs": part.gmacs,
        "gflops": part.gflops,
        "other_ops": part.other_ops,
    }


def part_of(path: str) -> str:
    """The part a module or parameter path belongs to, from the module tree every network here shares:
    `model` (backbone), `cpm` (its `conv`/`conv4_4` child is conv4_4, the rest conv4_3),
    `initial_stage`, `refinement_stages.<i>`."""
    head, _, rest = path.partition(".")
    child = rest.split(".")[0]
    if head == "model":
        return "backbone"
    if head == "cpm":
        return "conv4_4" if child in ("conv", "conv4_4") else "conv4_3"
    if head == "initial_stage":
        return "initial"
    if head == "refinement_stages" and child.isdigit():
        return f"refinement {int(child) + 1}"
    raise PoseforgeError(f"cannot place {path!r} in a part (backbone, CPM, initial, refinement stages)")


def parse_input(text: str) -> tuple[int, int]:
    """'368x368' or '256x456' (height x width, multiples of the network stride)."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise PoseforgeError(f"input size {text!r} is not HxW, e.g. 368x368") from None
    if height <= 0 or width <= 0 or height % STRIDE or width % STRIDE:
        raise PoseforgeError(f"input size {height}x{width}: height and width must be positive multiples of {STRIDE}")
    if height * width > MAX_IMAGE_PIXELS:  # torch's shapes overflow long before; no image is larger
        raise PoseforgeError(f"input size {height}x{width}: more than {MAX_IMAGE_PIXELS} pixels, the largest image")
    return height, width


def stages_config(model: str, stages: int | None) -> dict[str, Any]:
    """The model's config with `stages` total stages (initial + refinement), as the paper counts them."""
    config = dict(get_spec(model).default_config)
    if stages is not None:
        if stages < 1:
            raise PoseforgeError(f"--stages {stages}: a network has at least its initial stage (1)")
        config["num_refinement_stages"] = stages - 1
    return config


def count(model: str, input_hw: tuple[int, int] = PAPER_INPUT, config: dict[str, Any] | None = None) -> Complexity:
    """Parameters, MACs and element-wise operations per part of `model` (registry name), one [1, 3, H, W] input."""
    config = {**get_spec(model).default_config, **(config or {})}
    with torch.device("meta"):
        net = build_network(model, config).eval()
    macs: dict[str, int] = defaultdict(int)
    other: dict[str, int] = defaultdict(int)
    params: dict[str, int] = defaultdict(int)
    order: list[str] = []

    def hook(part: str, module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        if isinstance(module, nn.Conv2d):
            kernel_area = module.kernel_size[0] * module.kernel_size[1]
            macs[part] += output.numel() * (module.in_channels // module.groups) * kernel_area
            other[part] += output.numel() if module.bias is not None else 0
        elif isinstance(module, nn.MaxPool2d):
            other[part] += output.numel() * _area(module.kernel_size)
        else:
            other[part] += output.numel()

    handles = []
    for name, module in net.named_modules():
        if isinstance(module, _COUNTED):
            part = part_of(name)
            order += [part] if part not in order else []
            handles.append(module.register_forward_hook(lambda m, i, o, part=part: hook(part, m, i, o)))
    try:
        with torch.no_grad():
            net(torch.empty(1, 3, *input_hw, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    for name, param in net.named_parameters():
        params[part_of(name)] += param.numel()
    order += [name for name in params if name not in order]  # a part without convolutions still counts
    parts = [Part(name, params[name], macs[name], other[name]) for name in order]
    return Complexity(model, config, tuple(input_hw), parts)


_COUNTED = (nn.Conv2d, nn.MaxPool2d, nn.ReLU, nn.ELU, nn.BatchNorm2d)


def _area(kernel_size: int | tuple[int, int]) -> int:
    return kernel_size * kernel_size if isinstance(kernel_size, int) else kernel_size[0] * kernel_size[1]
