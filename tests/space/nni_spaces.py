"""Small user-defined NNI model spaces for the tests (imported by name from space files)."""

from __future__ import annotations

import nni
import torch
from nni.mutable import ExpressionConstraint
from nni.nas.nn.pytorch import LayerChoice, ModelSpace, MutableConv2d, MutableDropout, MutableLinear
from nni.nas.space import current_model, model_context
from torch import nn


class TinyNet(ModelSpace):
    """Conv (width, kernel) -> activation choice -> conv -> pool -> linear, for 8x8 digits.

    ``kernel`` 4 is a choice that `freeze` rejects (``__init__`` refuses even kernels when it runs
    frozen), and the constraint ``width + kernel <= 13`` rules out width 12 with kernel 3 or 4.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        width = nni.choice("width", [4, 8, 12])
        kernel = nni.choice("kernel", [1, 3, 4])
        frozen = current_model()  # the sample being frozen; None while NNI builds the space itself
        if frozen is not None and frozen["kernel"] % 2 == 0:
            raise ValueError(f"even kernel {frozen['kernel']} has no centre")
        self.add_mutable(ExpressionConstraint(width + kernel <= 13, label="small"))
        self.conv = MutableConv2d(in_channels, width, kernel, padding=kernel // 2)
        self.act = LayerChoice([nn.ReLU(), nn.Tanh()], label="act")
        self.conv2 = MutableConv2d(width, 8, 3, stride=2, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = MutableLinear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv2(self.act(self.conv(x))))
        return self.fc(torch.flatten(self.pool(x), 1))

    def freeze(self, sample: dict) -> nn.Module:
        # NNI asks a space with its own mutables (the constraint) to re-create itself in a frozen context.
        with model_context(sample):
            return self.__class__(*self.trace_args, **self.trace_kwargs)


def not_a_space(num_classes: int = 10) -> nn.Module:
    """A factory returning a plain module, which is not a model space."""
    return nn.Linear(4, num_classes)


class MixedNet(ModelSpace):
    """A tuple-valued choice (searched by index) and a continuous dropout rate (a float range)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        kernel = nni.choice("kernel", [(1, 1), (3, 3)])
        self.conv = MutableConv2d(in_channels, 4, kernel, padding=1)
        self.drop = MutableDropout(nni.uniform("dropout", 0.0, 0.5))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.drop(self.conv(x))), 1))


class NormalNet(ModelSpace):
    """An unbounded (normal) parameter, which Optuna cannot search."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.drop = MutableDropout(nni.normal("p", 0.2, 0.1))
        self.fc = nn.Linear(4, num_classes)
