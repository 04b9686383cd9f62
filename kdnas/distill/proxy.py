"""The proxy score: a short distillation run of a student against cached teacher outputs.

The whole training split sits in one tensor; batches are index draws from a seeded generator
(airbench style: no DataLoader, no workers), and teacher logits/features for a batch are rows
of the cached tensors, so the teacher never runs during a trial.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from kdnas.device import Acceleration
from kdnas.distill.bn_recal import recalibrate_bn
from kdnas.distill.evaluate import accuracy_and_loss
from kdnas.distill.loop import BatchLoss, StepLoop, Steps, shuffled_batches
from kdnas.distill.losses import hint_adapter, hint_loss, kd_objective
from kdnas.distill.optim import make_optimizer, warmup_cosine
from kdnas.distill.spec import ProxySpec
from kdnas.distill.teacher_cache import TeacherOutputs
from kdnas.teachers import FeatureTaps


RECAL_BATCH = 256  # forward-only batches of the recalibration: larger than training, still small in memory


@dataclass(frozen=True)
class HintPair:
    """One stage-wise hint: student stage module name -> teacher stage index, with channel counts."""

    student_module: str
    teacher_stage: int
    student_channels: int
    teacher_channels: int


@dataclass(frozen=True)
class ProxyResult:
    """What a proxy run measured.

    Besides the score (`val_acc`), two smoother signals of the same run: `val_loss`, the validation
    cross-entropy, and `train_loss_mean`, the training objective averaged over every step: the
    training-speed estimate (TSE) of Ru et al., NeurIPS 2021, divided by the step count, which a
    student that learns faster keeps lower and which needs no evaluation pass. `train_loss_late`
    averages the second half of the steps only (Ru et al.'s TSE-E, which leaves out the first steps,
    where every student's loss is close to its initial one).
    """

    val_acc: float
    final_loss: float
    steps: int
    train_s: float
    eval_s: float
    loss_terms: dict[str, float] = field(default_factory=dict)
    val_loss: float = math.nan
    train_loss_mean: float = math.nan
    train_loss_late: float = math.nan

    def losses(self) -> dict[str, float]:
        """The run's losses under the names `ProxyAdvanced.score`, trial metrics and bench records use."""
        return {"val_loss": self.val_loss, "tse": self.train_loss_mean, "tse_late": self.train_loss_late}

    def score(self, kind: str) -> float:
        """The value that ranks this student under `ProxyAdvanced.score` `kind`, higher is better: the
        accuracy, or a loss negated so that one direction (maximise) serves every kind."""
        if kind == "accuracy":
            return self.val_acc
        if kind in self.losses():
            return -self.losses()[kind]
        raise ValueError(f"unknown proxy score {kind!r}")


def hint_adapters(pairs: list[HintPair]) -> nn.ModuleList:
    """One `hint_adapter` per hinted stage pair, in the pairs' order."""
    return nn.ModuleList(hint_adapter(p.student_channels, p.teacher_channels) for p in pairs)


def proxy_loop(trained: nn.Module, spec: ProxySpec, n_train: int, seed: int, loss: BatchLoss, *,
               device: str = "cpu") -> StepLoop:
    """The short run's steps around a batch's `loss`: the spec's optimizer over `trained`, warm-up
    then cosine over `spec.total_steps`, shuffled batches drawn from a generator seeded `seed`.

    The generator lives on `device`, so the batch indices are drawn where the data is and index it
    without a copy per step (on the CPU: the same draws as ever)."""
    total = spec.total_steps(n_train)
    opt = make_optimizer(trained, spec.optimizer, spec.lr, spec.advanced.momentum,
                         spec.advanced.weight_decay)
    warmup = warmup_steps(total)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, total, warmup))
    gen = torch.Generator(device=torch.device(device)).manual_seed(seed)
    return StepLoop(loss, shuffled_batches(n_train, spec.batch_size, gen), opt, sched)


def warmup_steps(total: int) -> int:
    """Steps of the short run's linear learning-rate warm-up: a tenth of the run, at most 100."""
    return min(total // 10, 100)


def run_proxy(
    student: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    teacher: TeacherOutputs | None,
    spec: ProxySpec,
    *,
    seed: int,
    hints: list[HintPair] | None = None,
    device: str = "cpu",
    accel: Acceleration | None = None,
) -> ProxyResult:
    """Train `student` for the spec's budget on `device` and score it on the validation split.

    The training tensors (and the teacher's outputs) move to `device` once, for the whole run; a
    worker that holds them there already (`kdnas.execute.resident`) passes them and nothing moves.
    `accel`: autocast and layout on CUDA (default `Acceleration()`: bfloat16 autocast there).
    Raises `TrialFailure` when the loss becomes non-finite (the trial fails, the search goes on).
    """
    accel = accel or Acceleration()
    student, steps, train_s = short_run(student, x_train, y_train, teacher, spec, seed=seed, hints=hints, device=device,
                                        accel=accel)
    return scored(student, steps, train_s, x_train, x_val, y_val, spec, seed, device=device, accel=accel)


def scored(student: nn.Module, steps: Steps, train_s: float, x_train: torch.Tensor, x_val: torch.Tensor,
           y_val: torch.Tensor, spec: ProxySpec, seed: int, *, device: str, accel: Acceleration | None) -> ProxyResult:
    """The `ProxyResult` of a trained `student` and its `steps`: scored on the validation split
    (`proxy_eval`, under the run's autocast), the scoring's seconds measured."""
    t1 = time.perf_counter()
    with (accel or Acceleration()).autocast(device):
        acc, val_loss = proxy_eval(student, x_train, x_val, y_val, spec, seed)
    return result_of(steps, acc, val_loss, train_s, time.perf_counter() - t1)


def short_run(
    student: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    teacher: TeacherOutputs | None,
    spec: ProxySpec,
    *,
    seed: int,
    hints: list[HintPair] | None = None,
    device: str = "cpu",
    until: int | None = None,
    resume: Callable[[nn.Module, StepLoop], None] | None = None,
    accel: Acceleration | None = None,
) -> tuple[nn.Module, Steps, float]:
    """The training of `run_proxy` alone: `student` moved to `device` and trained for the spec's
    budget (`spec.method` kd, hint or ce), its steps and their seconds. Nothing is copied per step:
    the batch indices are drawn on `device` and gather rows of tensors already there.

    A run taken in parts (successive halving, `kdnas.distill.resumable`) stops at step `until` and
    passes `resume` the trained modules (student and hint adapters) and the loop before any step,
    to restore a saved state into them; the schedule's horizon stays the spec's budget."""
    accel = accel or Acceleration()
    accel.apply(device)
    layout = accel.layout(device)
    torch.manual_seed(seed)
    hints = list(hints or []) if spec.method == "hint" else []
    if spec.method != "ce" and teacher is None:
        raise ValueError(f"proxy method '{spec.method}' needs teacher outputs")
    student = student.to(device).train()
    adapters = hint_adapters(hints).to(device)
    if layout is not None:
        student, adapters = student.to(memory_format=layout), adapters.to(memory_format=layout)
    # no-ops for tensors already on `device` (a worker's resident context, or any CPU tensor)
    x, y = x_train.to(device), y_train.to(device)
    t_logits = None if spec.method == "ce" else teacher.logits.to(device)  # type: ignore[union-attr]
    t_feats = [teacher.features[p.teacher_stage].to(device) for p in hints]  # type: ignore[union-attr]
    alpha = spec.alpha if spec.method != "ce" else 0.0

    def batch_loss(idx: torch.Tensor, _step: int) -> dict[str, torch.Tensor]:
        xb = x[idx] if layout is None else x[idx].contiguous(memory_format=layout)
        with accel.autocast(device), FeatureTaps(student, [p.student_module for p in hints]) as taps:
            out = student(xb)
            terms = kd_objective(out, y[idx], None if t_logits is None else t_logits[idx], spec.temperature, alpha)
            for adapter, pair, feat, t_feat in zip(adapters, hints, taps.features, t_feats):
                terms[f"hint{pair.teacher_stage}"] = spec.hint_weight * hint_loss(adapter(feat), t_feat[idx])
        return terms

    trained = nn.ModuleList([student, adapters])
    loop = proxy_loop(trained, spec, len(x_train), seed, batch_loss, device=device)
    if resume is not None:
        resume(trained, loop)
    t0 = time.perf_counter()
    steps = loop.run((until or spec.total_steps(len(x_train))) - loop.step)
    return student, steps, time.perf_counter() - t0


def result_of(steps: Steps, acc: float, val_loss: float, train_s: float, eval_s: float) -> ProxyResult:
    """The `ProxyResult` of a short run's `steps` and its evaluation."""
    total, losses = len(steps.losses), steps.losses
    late_from, last = total // 2, max(0, total - 10)
    terms = {k: 0.0 for k in steps.terms}
    for step in range(last, total):  # the last few steps' terms, averaged for the record
        for k, values in steps.terms.items():
            terms[k] += values[step] / min(10, total)
    return ProxyResult(acc, losses[-1] if losses else math.nan, total, train_s, eval_s, terms, val_loss,
                       sum(losses) / max(1, total), sum(losses[late_from:]) / max(1, total - late_from))


def proxy_eval(student: nn.Module, x_train: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor,
               spec: ProxySpec, seed: int) -> tuple[float, float]:
    """Validation top-1 and cross-entropy of a trained student, after recalibrating its BatchNorm
    statistics on `spec.advanced.bn_recalibration` training images (none when 0)."""
    if spec.advanced.bn_recalibration:
        recalibrate_bn(student, x_train, spec.advanced.bn_recalibration, RECAL_BATCH, seed)
    return accuracy_and_loss(student, x_val, y_val, spec.advanced.eval_batch_size)

