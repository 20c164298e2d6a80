"""Convolution building blocks shared by the OpenPose-family networks.

The helpers mirror the upstream Lightweight OpenPose `modules/conv.py` so that the module
tree, and therefore every state_dict key, is the upstream one. `bn=False` with `bias=True`
gives the BatchNorm-folded form used by the Open Model Zoo release.
"""

from __future__ import annotations

from torch import nn


def conv(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    padding: int = 1,
    bn: bool = True,
    dilation: int = 1,
    stride: int = 1,
    relu: bool = True,
    bias: bool = True,
) -> nn.Sequential:
    """Conv2d [+ BatchNorm] [+ ReLU]."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, bias=bias)]
    if bn:
        layers.append(nn.BatchNorm2d(out_channels))
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def conv_dw(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    padding: int = 1,
    stride: int = 1,
    dilation: int = 1,
    folded_bn: bool = False,
) -> nn.Sequential:
    """MobileNet v1 depthwise-separable block: depthwise 3x3, BN, ReLU, pointwise 1x1, BN, ReLU.

    With `folded_bn` the BatchNorms are folded into the convolutions, which then carry biases.
    """
    norm = (lambda c: []) if folded_bn else (lambda c: [nn.BatchNorm2d(c)])
    return nn.Sequential(
        nn.Conv2d(
            in_channels, in_channels, kernel_size, stride, padding,
            dilation=dilation, groups=in_channels, bias=folded_bn,
        ),
        *norm(in_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(in_channels, out_channels, 1, 1, 0, bias=folded_bn),
        *norm(out_channels),
        nn.ReLU(inplace=True),
    )  # fmt: skip


def conv_dw_no_bn(in_channels: int, out_channels: int, bias: bool = False) -> nn.Sequential:
    """Depthwise 3x3 + ELU, pointwise 1x1 + ELU (the CPM trunk)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, in_channels, 3, 1, 1, groups=in_channels, bias=bias),
        nn.ELU(inplace=True),
        nn.Conv2d(in_channels, out_channels, 1, 1, 0, bias=bias),
        nn.ELU(inplace=True),
    )


def mobilenet_v1_backbone(folded_bn: bool = False) -> nn.Sequential:
    """MobileNet v1 up to conv5_5, output stride 8: conv5_1 is dilated instead of strided."""
    return nn.Sequential(
        conv(3, 32, stride=2, bias=folded_bn, bn=not folded_bn),  # conv1
        conv_dw(32, 64, folded_bn=folded_bn),  # conv2_1
        conv_dw(64, 128, stride=2, folded_bn=folded_bn),  # conv2_2
        conv_dw(128, 128, folded_bn=folded_bn),  # conv3_1
        conv_dw(128, 256, stride=2, folded_bn=folded_bn),  # conv3_2
        conv_dw(256, 256, folded_bn=folded_bn),  # conv4_1
        conv_dw(256, 512, folded_bn=folded_bn),  # conv4_2
        conv_dw(512, 512, dilation=2, padding=2, folded_bn=folded_bn),  # conv5_1
        conv_dw(512, 512, folded_bn=folded_bn),  # conv5_2
        conv_dw(512, 512, folded_bn=folded_bn),  # conv5_3
        conv_dw(512, 512, folded_bn=folded_bn),  # conv5_4
        conv_dw(512, 512, folded_bn=folded_bn),  # conv5_5
    )
