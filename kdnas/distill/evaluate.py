"""Top-1 accuracy (and cross-entropy) of a model on a split, in batches, without gradients."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> float:
    """Fraction of samples whose arg-max prediction equals the label (model left in eval mode)."""
    return accuracy_and_loss(model, x, y, batch_size)[0]


#: On the CPU, forward passes run in chunks of at most this many images whatever the batch size:
#: large batches are slower there, not faster (one thread, 1,000 images through panel students:
#: 3.0-3.2x the time at 1024 as at 64; reports/benchmarks/eval-batch-cpu.md). Eval mode makes every
#: image's logits independent of the others in its batch, so the chunk changes the time, not the result.
CPU_EVAL_CHUNK = 64


@torch.inference_mode()
def accuracy_and_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                      batch_size: int = 1024, cpu_chunk: int | None = CPU_EVAL_CHUNK) -> tuple[float, float]:
    """Top-1 accuracy and mean cross-entropy against the labels, from one pass (model left in eval
    mode). The loss moves with every logit, so it can order students that a small split's accuracy
    ties or orders by chance. `batch_size` bounds a GPU's memory; on the CPU the pass runs in
    chunks of `cpu_chunk` (None: `batch_size`)."""
    model.eval()
    device = next(model.parameters()).device
    if device.type == "cpu" and cpu_chunk:
        batch_size = min(batch_size, cpu_chunk)
    correct, ce = 0, 0.0
    for i in range(0, len(x), batch_size):
        logits, yb = model(x[i : i + batch_size].to(device)), y[i : i + batch_size].to(device)
        correct += int((logits.argmax(1) == yb).sum())
        ce += float(F.cross_entropy(logits.float(), yb, reduction="sum"))
    n = max(1, len(x))
    return correct / n, ce / n
