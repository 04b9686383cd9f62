"""The baseline the teacher cache is measured against: KD that runs the teacher on every batch.

Benchmark code, not product code: it mirrors `kdnas.distill.proxy.run_proxy` (same seeded batch
draws, optimizer, schedule and `kd_objective`) with one difference, where the teacher logits
come from, so the time difference between the two is the teacher's forward passes.
"""

from __future__ import annotations

import math
import time

import torch
from torch import nn

from kdnas.distill import ProxyResult, ProxySpec, kd_objective, proxy_score
from kdnas.distill.optim import make_optimizer, warmup_cosine
from kdnas.errors import TrialFailure


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
    gen = torch.Generator().manual_seed(seed)
    student = student.to(device).train()
    teacher = teacher.to(device).eval()
    opt = make_optimizer(student, spec.optimizer, spec.lr, spec.momentum, spec.weight_decay)
    total = spec.total_steps(len(x_train))
    warmup = min(total // 10, 100)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, total, warmup))
    n, bs = len(x_train), min(spec.batch_size, len(x_train))
    perm, pos = torch.randperm(n, generator=gen), 0
    loss_val = math.nan
    t0 = time.perf_counter()
    for step in range(total):
        if pos + bs > n:
            perm, pos = torch.randperm(n, generator=gen), 0
        idx = perm[pos : pos + bs]
        pos += bs
        xb, yb = x_train[idx].to(device), y_train[idx].to(device)
        with torch.no_grad():
            t_logits = teacher(xb).float()
        out = student(xb)
        loss = sum(kd_objective(out, yb, t_logits, spec.temperature, spec.alpha).values())
        if not torch.isfinite(loss):
            raise TrialFailure(f"non-finite loss ({float(loss)}) at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        loss_val = float(loss.detach())
    train_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    acc = proxy_score(student, x_train, x_val, y_val, spec, seed)  # scored exactly as run_proxy scores
    return ProxyResult(acc, loss_val, total, train_s, time.perf_counter() - t1)
