"""Lightweight OpenPose (Osokin 2018): the upstream PyTorch architecture.

MobileNet v1 (dilated conv5_1, stride 8) -> CPM -> initial stage -> refinement stages.
Module names follow Daniil-Osokin/lightweight-human-pose-estimation.pytorch exactly, so a
checkpoint written by its `train.py` loads unchanged. Input is already normalised,
(x - 128) / 256; `forward` returns [heatmaps, pafs] for every stage, like upstream.
"""

from __future__ import annotations

import torch
from torch import nn

from poseforge.keypoints import NUM_HEATMAPS, NUM_PAFS
from poseforge.models.blocks import conv, conv_dw_no_bn, mobilenet_v1_backbone


class Cpm(nn.Module):
    """Reduces the 512 backbone channels to 128: align, a depthwise trunk with a residual, a 3x3."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.align = conv(in_channels, out_channels, kernel_size=1, padding=0, bn=False)
        self.trunk = nn.Sequential(*(conv_dw_no_bn(out_channels, out_channels) for _ in range(3)))
        self.conv = conv(out_channels, out_channels, bn=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.align(x)
        return self.conv(x + self.trunk(x))


class InitialStage(nn.Module):
    """Three 3x3 convolutions, then two 1x1 heads (heatmaps, pafs)."""

    def __init__(self, num_channels: int, num_heatmaps: int, num_pafs: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(*(conv(num_channels, num_channels, bn=False) for _ in range(3)))
        self.heatmaps = _head(num_channels, 512, num_heatmaps)
        self.pafs = _head(num_channels, 512, num_pafs)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = self.trunk(x)
        return [self.heatmaps(features), self.pafs(features)]


class RefinementStageBlock(nn.Module):
    """1x1 then (3x3, dilated 3x3) with a residual connection around the pair."""

    def __init__(self, in_channels: int, out_channels: int, folded_bn: bool = False) -> None:
        super().__init__()
        self.initial = conv(in_channels, out_channels, kernel_size=1, padding=0, bn=False)
        self.trunk = nn.Sequential(
            conv(out_channels, out_channels, bn=not folded_bn),
            conv(out_channels, out_channels, dilation=2, padding=2, bn=not folded_bn),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        initial = self.initial(x)
        return initial + self.trunk(initial)


class RefinementStage(nn.Module):
    """Five refinement blocks, then two 1x1 heads (heatmaps, pafs)."""

    def __init__(
        self, in_channels: int, out_channels: int, num_heatmaps: int, num_pafs: int, folded_bn: bool = False
    ) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            RefinementStageBlock(in_channels, out_channels, folded_bn),
            *(RefinementStageBlock(out_channels, out_channels, folded_bn) for _ in range(4)),
        )
        self.heatmaps = _head(out_channels, out_channels, num_heatmaps)
        self.pafs = _head(out_channels, out_channels, num_pafs)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = self.trunk(x)
        return [self.heatmaps(features), self.pafs(features)]


def _head(in_channels: int, mid_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        conv(in_channels, mid_channels, kernel_size=1, padding=0, bn=False),
        conv(mid_channels, out_channels, kernel_size=1, padding=0, bn=False, relu=False),
    )


class LightweightOpenPose(nn.Module):
    """Upstream `PoseEstimationWithMobileNet`."""

    def __init__(
        self,
        num_refinement_stages: int = 1,
        num_channels: int = 128,
        num_heatmaps: int = NUM_HEATMAPS,
        num_pafs: int = NUM_PAFS,
    ) -> None:
        super().__init__()
        self.model = mobilenet_v1_backbone()
        self.cpm = Cpm(512, num_channels)
        self.initial_stage = InitialStage(num_channels, num_heatmaps, num_pafs)
        self.refinement_stages = nn.ModuleList(
            RefinementStage(num_channels + num_heatmaps + num_pafs, num_channels, num_heatmaps, num_pafs)
            for _ in range(num_refinement_stages)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = self.cpm(self.model(x))
        outputs = self.initial_stage(features)
        for stage in self.refinement_stages:
            outputs.extend(stage(torch.cat([features, outputs[-2], outputs[-1]], dim=1)))
        return outputs
