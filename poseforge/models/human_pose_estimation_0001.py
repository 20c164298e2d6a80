"""Open Model Zoo `human-pose-estimation-0001`: Lightweight OpenPose as Intel released it.

Same backbone, stages and heads as upstream, with two differences (read off the IR):
- BatchNorm is folded, so every convolution carries a bias;
- the CPM has an extra 1x1 (`red`) and uses ELU throughout:
  al (1x1, ELU) -> red (1x1, ELU) -> 3 x (dw 3x3 ELU, pw 1x1 ELU) -> + al -> 3x3 ReLU,
and the refinement stage reads [pafs, heatmaps, features] where upstream has
[features, heatmaps, pafs]. Input is normalised as the IR does, x * fp16(1/255) + fp16(-128/255).
"""

from __future__ import annotations

import torch
from torch import nn

from poseforge.keypoints import NUM_HEATMAPS, NUM_PAFS
from poseforge.models.blocks import conv, conv_dw_no_bn, mobilenet_v1_backbone
from poseforge.models.lightweight_openpose import InitialStage, RefinementStage


class OmzCpm(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.align = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.ELU(inplace=True))
        self.reduce = nn.Sequential(nn.Conv2d(out_channels, out_channels, 1), nn.ELU(inplace=True))
        self.trunk = nn.Sequential(*(conv_dw_no_bn(out_channels, out_channels, bias=True) for _ in range(3)))
        self.conv = conv(out_channels, out_channels, bn=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.align(x)
        return self.conv(x + self.trunk(self.reduce(x)))


class HumanPoseEstimation0001(nn.Module):
    def __init__(
        self,
        num_refinement_stages: int = 1,
        num_channels: int = 128,
        num_heatmaps: int = NUM_HEATMAPS,
        num_pafs: int = NUM_PAFS,
    ) -> None:
        super().__init__()
        self.model = mobilenet_v1_backbone(folded_bn=True)
        self.cpm = OmzCpm(512, num_channels)
        self.initial_stage = InitialStage(num_channels, num_heatmaps, num_pafs)
        self.refinement_stages = nn.ModuleList(
            RefinementStage(
                num_channels + num_heatmaps + num_pafs, num_channels, num_heatmaps, num_pafs, folded_bn=True
            )
            for _ in range(num_refinement_stages)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = self.cpm(self.model(x))
        outputs = self.initial_stage(features)
        for stage in self.refinement_stages:
            outputs.extend(stage(torch.cat([outputs[-1], outputs[-2], features], dim=1)))
        return outputs
