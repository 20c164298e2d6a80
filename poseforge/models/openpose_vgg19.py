"""The original OpenPose network (Cao et al. 2017, the COCO model): the Lightweight OpenPose baseline.

VGG-19's first ten convolutions (conv1_1 .. conv4_2, three 2x2 max-pools: stride 8) ->
conv4_3_CPM (3x3 512->256) -> conv4_4_CPM (3x3 256->128) -> stage 1: two branches, L1 for the
38 part affinity fields and L2 for the 19 heatmaps, each three 3x3x128, a 1x1 to 512 and a 1x1
to its outputs -> refinement stages on [pafs, heatmaps, features] (185 channels, the Caffe
release's concat order), two branches of five 7x7x128, a 1x1 to 128 and a 1x1 to the outputs.
Every convolution has a bias and, except the output ones, a ReLU.

The COCO release has 6 stages (5 refinement, 52,311,446 parameters); the Lightweight OpenPose
paper's speed baseline has 2. No trained weights are used here: the network exists for
complexity and speed comparisons with random weights. Input is normalised as the original,
x / 256 - 0.5; `forward` returns [heatmaps, pafs] for every stage, like the other networks.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from poseforge.keypoints import NUM_HEATMAPS, NUM_PAFS
from poseforge.models.blocks import conv

# (name, output channels) of the VGG-19 convolutions kept; "pool" marks a 2x2 max-pool.
_VGG19_FRONT = (
    ("conv1_1", 64), ("conv1_2", 64), ("pool1", 0),
    ("conv2_1", 128), ("conv2_2", 128), ("pool2", 0),
    ("conv3_1", 256), ("conv3_2", 256), ("conv3_3", 256), ("conv3_4", 256), ("pool3", 0),
    ("conv4_1", 512), ("conv4_2", 512),
)  # fmt: skip


def vgg19_front() -> nn.Sequential:
    """VGG-19 up to conv4_2 (with ReLU): 512 channels at stride 8."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    channels = 3
    for name, out_channels in _VGG19_FRONT:
        if name.startswith("pool"):
            layers[name] = nn.MaxPool2d(2, 2)
        else:
            layers[name] = conv(channels, out_channels, bn=False)
            channels = out_channels
    return nn.Sequential(layers)


def _branch(
    in_channels: int, width: int, kernel: int, depth: int, mid_channels: int, out_channels: int
) -> nn.Sequential:
    """`depth` kxk convolutions to `width` channels, a 1x1 to `mid_channels`, a 1x1 to the outputs."""
    return nn.Sequential(
        conv(in_channels, width, kernel, kernel // 2, bn=False),
        *(conv(width, width, kernel, kernel // 2, bn=False) for _ in range(depth - 1)),
        conv(width, mid_channels, 1, 0, bn=False),
        conv(mid_channels, out_channels, 1, 0, bn=False, relu=False),
    )


class TwoBranchStage(nn.Module):
    """One OpenPose stage: independent L1 (pafs) and L2 (heatmaps) branches on the same input."""

    def __init__(
        self, in_channels: int, width: int, kernel: int, depth: int, mid_channels: int, outputs: tuple[int, int]
    ) -> None:
        super().__init__()
        num_heatmaps, num_pafs = outputs
        self.pafs = _branch(in_channels, width, kernel, depth, mid_channels, num_pafs)
        self.heatmaps = _branch(in_channels, width, kernel, depth, mid_channels, num_heatmaps)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.heatmaps(x), self.pafs(x)]


class OpenPoseVgg19(nn.Module):
    """Original two-branch OpenPose; `num_refinement_stages` 5 is the COCO release, 1 the paper's baseline."""

    def __init__(
        self,
        num_refinement_stages: int = 5,
        num_channels: int = 128,
        num_heatmaps: int = NUM_HEATMAPS,
        num_pafs: int = NUM_PAFS,
    ) -> None:
        super().__init__()
        self.model = vgg19_front()
        self.cpm = nn.Sequential(
            OrderedDict(
                conv4_3=conv(512, 256, bn=False),
                conv4_4=conv(256, num_channels, bn=False),
            )
        )
        outputs = (num_heatmaps, num_pafs)
        self.initial_stage = TwoBranchStage(num_channels, num_channels, 3, 3, 512, outputs)
        self.refinement_stages = nn.ModuleList(
            TwoBranchStage(num_channels + num_heatmaps + num_pafs, num_channels, 7, 5, num_channels, outputs)
            for _ in range(num_refinement_stages)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = self.cpm(self.model(x))
        outputs = self.initial_stage(features)
        for stage in self.refinement_stages:
            outputs.extend(stage(torch.cat([outputs[-1], outputs[-2], features], dim=1)))
        return outputs
