"""Top-1 accuracy of a model on a split, in batches, without gradients."""

from __future__ import annotations

import torch
from torch import nn


@torch.inference_mode()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> float:
    """Fraction of samples whose arg-max prediction equals the label (model left in eval mode)."""
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for i in range(0, len(x), batch_size):
        pred = model(x[i : i + batch_size].to(device)).argmax(1)
        correct += int((pred == y[i : i + batch_size].to(device)).sum())
    return correct / max(1, len(x))
