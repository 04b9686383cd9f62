"""CIFAR ResNets with basic blocks (He et al. 2016), after RepDistiller's ``models/resnet.py``.

Module names follow RepDistiller's, so its published teacher state_dicts load as they are. Two
changes size the nets for any input: the stem takes ``in_channels``, and the fixed 8x8 average pool
is an adaptive one (RepDistiller's AvgPool2d(8) only fits 32x32 inputs).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kdnas.teachers.registry import register_model


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs with BN and an identity (or 1x1 conv) shortcut; ReLU after the sum."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        # not in place: `x` may be a tapped stage feature that must stay as it was
        return F.relu(out + residual)


class CifarResNet(nn.Module):
    """Stem conv, three stages of n basic blocks (strides 1, 2, 2), global pool, linear classifier.

    ``filters`` = (stem, stage1, stage2, stage3) channels; depth = 6n + 2.
    """

    feature_modules: tuple[str, ...] = ("layer1", "layer2", "layer3")

    def __init__(self, depth: int, filters: tuple[int, int, int, int], *, num_classes: int, in_channels: int = 3):
        super().__init__()
        if (depth - 2) % 6 != 0:
            raise ValueError(f"a CIFAR ResNet's depth is 6n+2, not {depth}")
        n = (depth - 2) // 6
        self.inplanes = filters[0]
        self.conv1 = nn.Conv2d(in_channels, filters[0], kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(filters[0])
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(filters[1], n, stride=1)
        self.layer2 = self._make_layer(filters[2], n, stride=2)
        self.layer3 = self._make_layer(filters[3], n, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(filters[3], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


_SLIM = (16, 16, 32, 64)
_X4 = (32, 64, 128, 256)


# input_size is part of every zoo function's signature; ResNets ignore it (adaptive pooling).
@register_model
def resnet8(*, num_classes: int, in_channels: int = 3, input_size: tuple[int, int] = (32, 32)) -> CifarResNet:
    """ResNet-8: 1 block per stage, 16/32/64 channels (~0.08 M params, ~12 M MACs at 32x32): a
    teacher cheap enough to train on a CPU."""
    return CifarResNet(8, _SLIM, num_classes=num_classes, in_channels=in_channels)


@register_model
def resnet14(*, num_classes: int, in_channels: int = 3, input_size: tuple[int, int] = (32, 32)) -> CifarResNet:
    """ResNet-14: 2 blocks per stage, 16/32/64 channels."""
    return CifarResNet(14, _SLIM, num_classes=num_classes, in_channels=in_channels)


@register_model
def resnet20(*, num_classes: int, in_channels: int = 3, input_size: tuple[int, int] = (32, 32)) -> CifarResNet:
    """ResNet-20: 3 blocks per stage, 16/32/64 channels (~0.27 M params, ~41 M MACs at 32x32)."""
    return CifarResNet(20, _SLIM, num_classes=num_classes, in_channels=in_channels)


@register_model
def resnet32(*, num_classes: int, in_channels: int = 3, input_size: tuple[int, int] = (32, 32)) -> CifarResNet:
    """ResNet-32: 5 blocks per stage, 16/32/64 channels."""
    return CifarResNet(32, _SLIM, num_classes=num_classes, in_channels=in_channels)


@register_model
def resnet56(*, num_classes: int, in_channels: int = 3, input_size: tuple[int, int] = (32, 32)) -> CifarResNet:
    """ResNet-56: 9 blocks per stage, 16/32/64 channels (~0.86 M params, ~126 M MACs at 32x32)."""
    return CifarResNet(56, _SLIM, num_classes=num_classes, in_channels=in_channels)


@register_model
def resnet110(*, num_classes: int, in_channels: int = 3, input_size: tuple[int, int] = (32, 32)) -> CifarResNet:
    """ResNet-110: 18 blocks per stage, 16/32/64 channels."""
    return CifarResNet(110, _SLIM, num_classes=num_classes, in_channels=in_channels)


@register_model
def resnet8x4(*, num_classes: int, in_channels: int = 3, input_size: tuple[int, int] = (32, 32)) -> CifarResNet:
    """ResNet-8x4: 1 block per stage, stem 32 and 64/128/256 channels (RepDistiller's filters)."""
    return CifarResNet(8, _X4, num_classes=num_classes, in_channels=in_channels)


@register_model
def resnet32x4(*, num_classes: int, in_channels: int = 3, input_size: tuple[int, int] = (32, 32)) -> CifarResNet:
    """ResNet-32x4: 5 blocks per stage, stem 32 and 64/128/256 channels (RepDistiller's filters)."""
    return CifarResNet(32, _X4, num_classes=num_classes, in_channels=in_channels)
