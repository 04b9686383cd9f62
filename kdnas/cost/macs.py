"""MACs and parameters of a model for one input (thop)."""

from __future__ import annotations

import copy

import thop
import torch
from torch import nn


def count_params(model: nn.Module) -> int:
    """Number of parameter elements, each shared parameter once."""
    return sum(p.numel() for p in model.parameters())


def count_macs_params(model: nn.Module, input_shape: tuple[int, int, int]) -> tuple[int, int]:
    """(MACs, params) of `model` for one input of shape (C, H, W), batch 1, in eval mode.

    MACs come from ``thop.profile`` run on a deep copy, because thop adds hooks, counters (and in
    some versions buffers) to every module: the caller's model, its state_dict and its train/eval
    flags stay as they were. Params are counted directly from ``parameters()`` (thop sums per leaf
    module, which misses parameters held by a non-leaf module and counts shared ones twice).
    thop's conventions: conv/linear multiply-adds, plus BN, pooling and elementwise costs by its
    own rules; ReLU counts zero.
    """
    probe = copy.deepcopy(model)
    probe.eval()
    device = next((t.device for t in list(probe.parameters()) + list(probe.buffers())), torch.device("cpu"))
    x = torch.zeros(1, *input_shape, device=device)
    with torch.no_grad():
        macs, _ = thop.profile(probe, inputs=(x,), verbose=False)
    return int(round(float(macs))), count_params(model)
