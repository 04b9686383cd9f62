"""Top-1 accuracy (and cross-entropy) of a model on a split, in batches, without gradients."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> float:
    """Fraction of samples whose arg-max prediction equals the label (model left in eval mode)."""
    return accuracy_and_loss(model, x, y, batch_size)[0]


@torch.inference_mode()
def accuracy_and_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                      batch_size: int = 1024) -> tuple[float, float]:
    """Top-1 accuracy and mean cross-entropy against the labels, from one pass (model left in eval
    mode). The loss moves with every logit, so it can order students that a small split's accuracy
    ties or orders by chance."""
    model.eval()
    device = next(model.parameters()).device
    correct, ce = 0, 0.0
    for i in range(0, len(x), batch_size):
        logits, yb = model(x[i : i + batch_size].to(device)), y[i : i + batch_size].to(device)
        correct += int((logits.argmax(1) == yb).sum())
        ce += float(F.cross_entropy(logits.float(), yb, reduction="sum"))
    n = max(1, len(x))
    return correct / n, ce / n
