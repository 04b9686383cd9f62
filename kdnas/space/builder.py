"""Build a trainable student network from an `Arch`."""

from __future__ import annotations

import torch
from torch import nn

from kdnas.arch import Arch, Stage
from kdnas.space.blocks import BLOCKS, conv_bn


def build_stage(stage: Stage, c_in: int) -> nn.Module:
    """The blocks of one stage; the first carries the stride and the width change."""
    if stage.op == "skip":
        return nn.Identity()
    block = BLOCKS[stage.op]
    layers = [block(c_in, stage.width, stage.stride, stage.kernel, stage.expand)]
    layers += [block(stage.width, stage.width, 1, stage.kernel, stage.expand) for _ in range(stage.depth - 1)]
    return nn.Sequential(*layers)


class Student(nn.Module):
    """A student built from an `Arch`: stem, stages, optional 1x1 head, pooling, classifier.

    `feature_modules` names the stage outputs, so stage features are reachable by forward hooks
    exactly like a teacher's.
    """

    def __init__(self, arch: Arch, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.arch_str = str(arch)
        self.stem = conv_bn(in_channels, arch.stem, 3)
        stages: list[nn.Module] = []
        width = arch.stem
        for stage in arch.stages:
            stages.append(build_stage(stage, width))
            if stage.op != "skip":
                width = stage.width
        self.stages = nn.ModuleList(stages)
        self.head = conv_bn(width, arch.head, 1) if arch.head else nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(arch.head or width, num_classes)
        self.feature_modules = tuple(f"stages.{i}" for i in range(len(stages)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        x = self.pool(self.head(x))
        return self.fc(torch.flatten(x, 1))


class StudentTail(nn.Module):
    """A student's tail exactly as `Student` builds it (optional 1x1 head conv, pool, classifier), on
    its own: what the per-part cost and latency tables count for a (last width, head width) pair."""

    def __init__(self, width: int, head: int, num_classes: int) -> None:
        super().__init__()
        self.head = conv_bn(width, head, 1) if head else nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(head or width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.head(x)).flatten(1))


def build_student(arch: Arch, in_channels: int, num_classes: int) -> Student:
    """Build the student network of `arch` for inputs with `in_channels` and `num_classes` outputs."""
    return Student(arch, in_channels, num_classes)
