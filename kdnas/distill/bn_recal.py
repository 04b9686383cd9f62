"""Batch-norm recalibration: re-estimate running statistics before a short run is evaluated.

BatchNorm's running mean and variance follow the batch statistics with momentum 0.1, so after a
few dozen large-learning-rate steps they still describe weights the run has left behind, and
eval-mode accuracy can sit at chance while train-mode predictions are already good. Weight-sharing
NAS (OFA, Cai et al. 2020; BigNAS, Yu et al. 2020) recomputes them on a few training batches
before scoring a sub-network; a short proxy run has the same problem and the same cure.
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def recalibrate_bn(model: nn.Module, x: torch.Tensor, samples: int, batch_size: int, seed: int) -> int:
    """Reset every BatchNorm layer's running statistics in `model` and recompute them as the exact
    average over `samples` images of `x` (a seeded draw), in batches of `batch_size`.

    Only BN buffers change; weights do not. The model is left in eval mode. Returns the number of
    BN layers recalibrated (0: nothing to do, the model is untouched).
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not bns or samples <= 0:
        model.eval()
        return 0
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: the exact mean over all batches seen
    device = next(model.parameters()).device
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[: min(samples, len(x))]
    model.train()
    try:
        for i in range(0, len(idx), batch_size):
            batch = idx[i : i + batch_size]
            if len(batch) > 1 or i == 0:  # a trailing batch of one has no variance to contribute
                model(x[batch].to(device))
    finally:
        for m, mom in zip(bns, momenta):
            m.momentum = mom
        model.eval()
    return len(bns)
