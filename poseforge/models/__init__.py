"""Network definitions, the model registry, checkpoint loading and IR weight import.

`poseforge.models` imports torch: the CLI imports it only inside the commands that need it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from poseforge.errors import PoseforgeError
from poseforge.models.human_pose_estimation_0001 import HumanPoseEstimation0001
from poseforge.models.lightweight_openpose import LightweightOpenPose
from poseforge.models.openpose_vgg19 import OpenPoseVgg19


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Callable[..., nn.Module]
    normalization: dict[str, list[float]]  # data * scale + shift, per BGR channel
    description: str
    weights: str  # where trained weights come from, and their licence
    default_config: dict = field(default_factory=dict)


_UPSTREAM = "Daniil-Osokin/lightweight-human-pose-estimation.pytorch (Apache-2.0)"
_OMZ_SCALE = float(np.float16(1 / 255))  # the IR's own fp16 constants
_OMZ_SHIFT = float(np.float16(-128 / 255))

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="lightweight-openpose",
            builder=LightweightOpenPose,
            normalization={"scale": [1 / 256] * 3, "shift": [-128 / 256] * 3},
            description="Lightweight OpenPose, upstream PyTorch architecture (Osokin 2018)",
            weights=f"a checkpoint written by the upstream train.py, {_UPSTREAM}",
            default_config={"num_refinement_stages": 1},
        ),
        ModelSpec(
            name="human-pose-estimation-0001",
            builder=HumanPoseEstimation0001,
            normalization={"scale": [_OMZ_SCALE] * 3, "shift": [_OMZ_SHIFT] * 3},
            description="Open Model Zoo human-pose-estimation-0001 (Lightweight OpenPose, OMZ variant)",
            weights="imported from the Open Model Zoo 2021.2 FP16-INT8 IR, Intel, Apache-2.0",
            default_config={"num_refinement_stages": 1},
        ),
        ModelSpec(
            name="openpose-vgg19",
            builder=OpenPoseVgg19,
            normalization={"scale": [1 / 256] * 3, "shift": [-0.5] * 3},
            description="original OpenPose (Cao et al. 2017, COCO): VGG-19 front, two-branch stages",
            weights="none: random-init only (`poseforge init`), for complexity and speed, never for accuracy",
            default_config={"num_refinement_stages": 5},  # the 6-stage COCO release
        ),
    )
}


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise PoseforgeError(f"unknown model {name!r}; known models: {', '.join(MODELS)}") from None


def check_config(name: str, config: dict | None, where: object = "the checkpoint") -> dict:
    """The network's options, bounded before anything is built (documents.CONFIG)."""
    from poseforge.documents import CONFIG, FieldError

    spec = get_spec(name)
    config = {**spec.default_config, **(config or {})}
    unknown = sorted(set(config) - set(spec.default_config))
    if unknown:
        raise PoseforgeError(f"{where}: unknown option(s) {', '.join(map(str, unknown))} for {name}")
    try:
        CONFIG(config, "config")
    except FieldError as exc:
        raise PoseforgeError(f"{where}: {exc}") from None
    return config


def build_network(name: str, config: dict | None = None) -> nn.Module:
    return get_spec(name).builder(**check_config(name, config))


class DeployableNetwork(nn.Module):
    """What every exported artifact computes: raw BGR pixels in, last-stage maps out.

    The network's own normalisation is part of the graph, so runtimes need no pre-processing
    beyond resizing and padding.
    """

    def __init__(self, network: nn.Module, normalization: dict[str, list[float]]) -> None:
        super().__init__()
        self.network = network
        scale = torch.tensor(normalization["scale"], dtype=torch.float32).reshape(1, 3, 1, 1)
        shift = torch.tensor(normalization["shift"], dtype=torch.float32).reshape(1, 3, 1, 1)
        self.register_buffer("scale", scale, persistent=False)
        self.register_buffer("shift", shift, persistent=False)

    def forward(self, data: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        heatmaps, pafs = self.network(data * self.scale + self.shift)[-2:]
        return heatmaps, pafs
