"""VGG-13 with batch norm for small images, after RepDistiller's ``models/vgg.py`` (config "B").

Five conv blocks separated by max-pools, then a global average pool and one linear layer (no FC
stack). Module names follow RepDistiller's so its teacher state_dicts load. Sizing for the input:

- the first conv takes ``in_channels``;
- pool0-pool2 are skipped (Identity) where they would shrink the map below 1x1 (8x8 digits);
- pool3 is applied only where the last blocks still run at >= 4x4 after it: RepDistiller applies it
  only to 64x64 inputs, so 32x32 CIFAR keeps block3 and block4 at 4x4 (and its published cost).

The pool choice is made once from ``input_size`` in the constructor, so the graph is plain and
profilers see it; pools hold no weights, so the state_dict does not depend on the input size.
Blocks end with their ReLU (RepDistiller applies it outside), so a tapped block output is the
activated feature; the state_dict keys are the same either way.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from kdnas.teachers.registry import register_model

_CFG_B: tuple[tuple[int, ...], ...] = ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512))


def _make_block(widths: tuple[int, ...], in_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for w in widths:
        layers += [nn.Conv2d(in_channels, w, kernel_size=3, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
        in_channels = w
    return nn.Sequential(*layers)


def _pools(input_size: tuple[int, int]) -> list[bool]:
    """Which of pool0..pool3 halve the map, for an input of `input_size` (see the module docstring)."""
    size = min(input_size)
    use = []
    for i in range(4):
        floor = 4 if i == 3 else 1
        ok = size // 2 >= floor
        use.append(ok)
        if ok:
            size //= 2
    return use


class VGG(nn.Module):
    """blockK = convs at one resolution; poolK between blocks; pool4 global; linear classifier.

    Stage-boundary features: the last block at each of the four resolutions a 32x32 input passes
    through (32, 16, 8, 4): block0, block1, block2, block4 (block3 shares block4's resolution).
    """

    feature_modules: tuple[str, ...] = ("block0", "block1", "block2", "block4")

    def __init__(
        self,
        cfg: tuple[tuple[int, ...], ...],
        *,
        num_classes: int,
        in_channels: int = 3,
        input_size: tuple[int, int] = (32, 32),
    ):
        super().__init__()
        ins = [in_channels] + [widths[-1] for widths in cfg[:-1]]
        for i, (widths, cin) in enumerate(zip(cfg, ins, strict=True)):
            self.add_module(f"block{i}", _make_block(widths, cin))
        for i, use in enumerate(_pools(input_size)):
            self.add_module(f"pool{i}", nn.MaxPool2d(kernel_size=2, stride=2) if use else nn.Identity())
        self.pool4 = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(cfg[-1][-1], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool0(self.block0(x))
        x = self.pool1(self.block1(x))
        x = self.pool2(self.block2(x))
        x = self.pool3(self.block3(x))
        x = self.pool4(self.block4(x))
        return self.classifier(torch.flatten(x, 1))


@register_model
def vgg13(*, num_classes: int, in_channels: int = 3, input_size: tuple[int, int] = (32, 32)) -> VGG:
    """VGG-13 with batch norm (RepDistiller's vgg13_bn): 64/128/256/512/512 channels, 2 convs each."""
    return VGG(_CFG_B, num_classes=num_classes, in_channels=in_channels, input_size=tuple(input_size))
