"""The blocks a stage can be made of. Each takes (c_in, c_out, stride, kernel, expand).

Blocks import only torch: the layer library imports nothing else from kdnas (timm's rule).
"""

from __future__ import annotations

import torch
from torch import nn


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    """Conv (no bias, 'same' padding) + BatchNorm (+ ReLU)."""
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand (skipped when expand == 1), kxk depthwise, linear 1x1 project."""

    def __init__(self, c_in: int, c_out: int, stride: int, kernel: int, expand: int) -> None:
        super().__init__()
        hidden = c_in * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(conv_bn(c_in, hidden, 1))
        layers += [conv_bn(hidden, hidden, kernel, stride, groups=hidden), conv_bn(hidden, c_out, 1, act=False)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return x + out if self.residual else out


class DepthwiseSeparable(nn.Module):
    """MobileNetV1 block: kxk depthwise then 1x1 pointwise, residual when shapes allow."""

    def __init__(self, c_in: int, c_out: int, stride: int, kernel: int, expand: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(c_in, c_in, kernel, stride, groups=c_in), conv_bn(c_in, c_out, 1, act=False))
        self.residual = stride == 1 and c_in == c_out
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return self.act(x + out if self.residual else out)


def _shortcut(c_in: int, c_out: int, stride: int) -> nn.Module:
    # A 1x1 projection only where the shape changes, as in ResNet option B.
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return conv_bn(c_in, c_out, 1, stride, act=False)


class BasicBlock(nn.Module):
    """ResNet basic block: two kxk convs with a shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int, kernel: int, expand: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(c_in, c_out, kernel, stride), conv_bn(c_out, c_out, kernel, act=False))
        self.shortcut = _shortcut(c_in, c_out, stride)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    """ResNet bottleneck: 1x1 down to width*expand/4, kxk, 1x1 up to width, with a shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int, kernel: int, expand: int) -> None:
        super().__init__()
        mid = max(1, c_out * expand // 4)
        self.body = nn.Sequential(
            conv_bn(c_in, mid, 1), conv_bn(mid, mid, kernel, stride), conv_bn(mid, c_out, 1, act=False)
        )
        self.shortcut = _shortcut(c_in, c_out, stride)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


BLOCKS: dict[str, type[nn.Module]] = {
    "ir": InvertedResidual,
    "dws": DepthwiseSeparable,
    "basic": BasicBlock,
    "bneck": Bottleneck,
}
