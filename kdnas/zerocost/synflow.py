"""Synflow: sum over parameters of |theta * dR/dtheta| where R is the output summed over an all-ones
input, with every parameter replaced by its absolute value (data-free, label-free).

As in Abdelfattah et al.'s code: float64 so deep products do not overflow, BatchNorm in eval mode
(its running statistics at init are the identity, so BN neither normalises the all-ones input
away nor needs a batch). We return log(score) (the ranking is the same; raw values reach 1e30).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def synflow_score(model: nn.Module, input_shape: tuple[int, int, int]) -> float:
    """log synflow of `model` (left untouched: the score is computed on a copy)."""
    net = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net.zero_grad(set_to_none=True)
    out = net(torch.ones(1, *input_shape, dtype=torch.float64))
    out.sum().backward()
    total = 0.0
    for p in net.parameters():
        if p.grad is not None:
            total += float((p.detach() * p.grad).abs().sum())
    return math.log(total) if total > 0 else -math.inf
