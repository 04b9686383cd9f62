"""NASWOT (Mellor et al. 2021): how differently an untrained network's ReLUs partition a batch.

Each input gets a binary code (which ReLU units are active); K[i, j] counts the units on which
inputs i and j agree (both on or both off). Score = log|det K|: high when the codes of different
inputs are far apart, i.e. the network separates them at initialisation.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


@torch.no_grad()
def naswot_score(model: nn.Module, x: torch.Tensor) -> float:
    """log|det K| of `model` on the batch `x` (train-mode BN as in the paper; model untouched)."""
    net = copy.deepcopy(model).train()
    n = len(x)
    k = torch.zeros(n, n, dtype=torch.float64)

    def hook(_m: nn.Module, _inp: object, out: torch.Tensor) -> None:
        c = (out.reshape(n, -1) > 0).double()
        k.add_(c @ c.t() + (1 - c) @ (1 - c).t())

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.ReLU)]
    try:
        net(x)
    finally:
        for h in handles:
            h.remove()
    sign, logdet = torch.linalg.slogdet(k)
    return float(logdet) if float(sign) != 0 else float("-inf")
