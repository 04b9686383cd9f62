"""Wide ResNets (Zagoruyko & Komodakis 2016), after RepDistiller's ``models/wrn.py``.

Pre-activation blocks; module names follow RepDistiller's so its teacher state_dicts load. The stem
takes ``in_channels`` and the final 8x8 average pool is adaptive, so any input size works.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from kdnas.teachers.registry import register_model


class WideBasicBlock(nn.Module):
    """BN-ReLU-conv twice; a 1x1 conv shortcut (from the activated input) where the width changes."""

    def __init__(self, in_planes: int, out_planes: int, stride: int, drop_rate: float = 0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_planes, out_planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.drop_rate = drop_rate
        self.equal_in_out = in_planes == out_planes
        self.convShortcut = (
            None
            if self.equal_in_out
            else nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, padding=0, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = self.relu1(self.bn1(x))
        out = self.relu2(self.bn2(self.conv1(act)))
        if self.drop_rate > 0:
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        out = self.conv2(out)
        # as in the reference: a widening block's shortcut starts from the activated input
        shortcut = x if self.convShortcut is None else self.convShortcut(act)
        return shortcut + out


class NetworkBlock(nn.Module):
    """One stage: `nb_layers` wide blocks, the first with the stage's stride."""

    def __init__(self, nb_layers: int, in_planes: int, out_planes: int, stride: int, drop_rate: float = 0.0):
        super().__init__()
        self.layer = nn.Sequential(
            *(
                WideBasicBlock(in_planes if i == 0 else out_planes, out_planes, stride if i == 0 else 1, drop_rate)
                for i in range(nb_layers)
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class WideResNet(nn.Module):
    """Stem conv, three stages (strides 1, 2, 2) of 16k/32k/64k channels, BN-ReLU, pool, linear."""

    feature_modules: tuple[str, ...] = ("block1", "block2", "block3")

    def __init__(
        self, depth: int, widen_factor: int, *, num_classes: int, in_channels: int = 3, drop_rate: float = 0.0
    ):
        super().__init__()
        if (depth - 4) % 6 != 0:
            raise ValueError(f"a Wide ResNet's depth is 6n+4, not {depth}")
        n = (depth - 4) // 6
        ch = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.conv1 = nn.Conv2d(in_channels, ch[0], kernel_size=3, stride=1, padding=1, bias=False)
        self.block1 = NetworkBlock(n, ch[0], ch[1], 1, drop_rate)
        self.block2 = NetworkBlock(n, ch[1], ch[2], 2, drop_rate)
        self.block3 = NetworkBlock(n, ch[2], ch[3], 2, drop_rate)
        self.bn1 = nn.BatchNorm2d(ch[3])
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(ch[3], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        out = self.relu(self.bn1(out))
        return self.fc(torch.flatten(self.avgpool(out), 1))


@register_model
def wrn_40_2(
    *,
    num_classes: int,
    in_channels: int = 3,
    input_size: tuple[int, int] = (32, 32),
    drop_rate: float = 0.0,
) -> WideResNet:
    """WRN-40-2: 6 blocks per stage, 32/64/128 channels (~2.2 M params)."""
    return WideResNet(40, 2, num_classes=num_classes, in_channels=in_channels, drop_rate=drop_rate)
