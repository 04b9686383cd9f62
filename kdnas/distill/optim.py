"""Optimizer and learning-rate schedule shared by the proxy and full training."""

from __future__ import annotations

import math

import torch
from torch import nn


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on weights only: decaying BN scales and biases hurts small nets for nothing."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(
    model: nn.Module, name: str, lr: float, momentum: float, weight_decay: float, nesterov: bool = False
) -> torch.optim.Optimizer:
    """SGD (momentum, optional Nesterov) or AdamW over `model`'s trainable parameters."""
    groups = param_groups(model, weight_decay)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov and momentum > 0)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    raise ValueError(f"unknown optimizer {name}")


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """LR factor: linear warm-up over `warmup` steps, then cosine decay to 0 at `total`."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def warmup_step(step: int, total: int, warmup: int, milestones: tuple[float, ...], gamma: float) -> float:
    """LR factor: linear warm-up, then times `gamma` at each milestone (a fraction of `total` steps)."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    return gamma ** sum(step >= int(m * total) for m in milestones)
