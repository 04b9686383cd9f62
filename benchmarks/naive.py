"""The baseline the teacher cache is measured against: KD that runs the teacher on every batch.

Benchmark code, not product code: `kdnas.distill.proxy.run_proxy`'s loop (`proxy_loop`: the same
seeded batch draws, optimizer, schedule and `kd_objective`) with one difference, where the teacher
logits come from, so the time difference between the two is the teacher's forward passes.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from kdnas.distill import ProxyResult, ProxySpec, kd_objective
from kdnas.distill.proxy import proxy_eval, proxy_loop, result_of


def naive_kd_proxy(
    student: nn.Module,
    teacher: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    spec: ProxySpec,
    *,
    seed: int,
    device: str = "cpu",
) -> ProxyResult:
    """`run_proxy` with method "kd", but the frozen teacher (eval, no_grad) is run on each batch."""
    torch.manual_seed(seed)
    student = student.to(device).train()
    teacher = teacher.to(device).eval()
    x, y = x_train.to(device), y_train.to(device)

    def batch_loss(idx: torch.Tensor, _step: int) -> dict[str, torch.Tensor]:
        xb = x[idx.to(device)]
        with torch.no_grad():
            t_logits = teacher(xb).float()
        return kd_objective(student(xb), y[idx.to(device)], t_logits, spec.temperature, spec.alpha)

    t0 = time.perf_counter()
    steps = proxy_loop(student, spec, len(x_train), seed, batch_loss).run(spec.total_steps(len(x_train)))
    train_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    acc, val_loss = proxy_eval(student, x_train, x_val, y_val, spec, seed)  # scored exactly as run_proxy scores
    return result_of(steps, acc, val_loss, train_s, time.perf_counter() - t1)
