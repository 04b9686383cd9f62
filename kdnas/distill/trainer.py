"""Full training of a network on a `DataBundle`: teachers (`kdnas teacher train`) and retrained
students (`kdnas retrain`, `kdnas distill`) go through this one loop.

SGD with momentum/Nesterov, warm-up then cosine or step decay, label smoothing, random crop/flip
done on batches of tensors, bfloat16 autocast on CUDA. With a teacher, the loss terms come from a
`Distiller` (KD, DKD, hints, RKD) with the teacher run on the same augmented batch (its outputs
cannot be cached once augmentation changes the inputs); without augmentation, and when only its
logits are used, the teacher runs once over the training split instead.

With `checkpoint`, the full training state is written atomically after every epoch and a run
that finds one continues from it: same seed, same data -> the same weights as an uninterrupted run
(bit for bit on the CPU with one thread).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from pydantic import ValidationError
from torch import nn

from kdnas.data import DataBundle, random_crop_flip
from kdnas.distill.distiller import Distiller
from kdnas.distill.evaluate import accuracy
from kdnas.distill.loop import StepLoop, shuffled_batches
from kdnas.distill.optim import make_optimizer, warmup_cosine, warmup_step
from kdnas.distill.spec import DistillSpec, RetrainRecipe, TrainRecipe
from kdnas.distill.state import check_meta, fit_problem, load_state, rng_state, save_state, set_rng_state
from kdnas.device import autocast
from kdnas.errors import CheckpointError


@dataclass(frozen=True)
class TrainResult:
    """Outcome of a full training run."""

    val_acc: float
    epochs: int
    steps: int
    train_s: float
    history: tuple[dict, ...]
    resumed_from: int = 0  # epochs already done when this call started


def _lr_lambda(recipe: TrainRecipe, total: int, warmup: int) -> Callable[[int], float]:
    if isinstance(recipe, RetrainRecipe) and recipe.schedule == "step":
        return lambda s: warmup_step(s, total, warmup, recipe.milestones, recipe.gamma)
    return lambda s: warmup_cosine(s, total, warmup)


def run_meta(recipe: TrainRecipe, distill: DistillSpec | None, seed: int, arch: str) -> dict:
    """What identifies a run in its checkpoint: a state is only resumed by the same run."""
    return {
        "arch": arch, "seed": seed,
        "recipe": recipe.model_dump(mode="json", exclude={"threads", "eval_batch_size", "distill"}),
        "distill": distill.model_dump(mode="json") if distill is not None else None,
    }


def _saved_meta(state: dict) -> dict:
    """A state's meta with its distillation spec as this version writes it, so a state written by
    an earlier spec that meant the same run continues (the CE weight once stored apart from alpha:
    `DistillSpec` reads it); a spec this version refuses stays as written, and differs."""
    meta = dict(state.get("meta") or {})
    if isinstance(meta.get("distill"), dict):
        with contextlib.suppress(ValidationError):
            meta["distill"] = DistillSpec.model_validate(meta["distill"]).model_dump(mode="json")
    return meta


def _resume(path: Path, distiller: Distiller, opt, sched, gen: torch.Generator, meta: dict) -> tuple[int, int, list]:
    state = load_state(path)
    check_meta(path, _saved_meta(state), meta)
    for key, module in (("model", distiller.student), ("adapters", distiller.adapters)):
        problem = fit_problem(module.state_dict(), state.get(key) or {})
        if problem is not None:
            raise CheckpointError(f"checkpoint {path} does not fit this {key}: {problem}")
        module.load_state_dict(state[key])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"], gen)
    return int(state["epoch"]), int(state["step"]), list(state["history"])


def train(
    model: nn.Module,
    data: DataBundle,
    recipe: TrainRecipe,
    *,
    seed: int,
    teacher: nn.Module | None = None,
    distill: DistillSpec | None = None,
    teacher_features: tuple[str, ...] | None = None,
    device: str = "cpu",
    on_epoch: Callable[[int, dict], None] | None = None,
    checkpoint: Path | None = None,
    arch: str | None = None,
) -> TrainResult:
    """Train `model` in place on `data.train`, scoring `data.val` after each epoch.

    `distill` sets the distillation terms (default with a `teacher`: `DistillSpec()`, Hinton KD). `checkpoint`: the training-state file written after each epoch and resumed
    from when present (`arch` names the model in it; a state of another run raises `CheckpointError`).
    """
    if teacher is not None and distill is None:
        distill = DistillSpec()
    if distill is not None and not distill.uses_teacher:
        teacher = None
    if teacher is None and distill is not None:
        distill = distill.labels_only()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(recipe.threads)
    try:
        model = model.to(device)
        if teacher is not None:
            teacher = teacher.to(device).eval()
        distiller = Distiller(model, teacher, distill or DistillSpec(alpha=0.0), data.input_shape,
                              label_smoothing=recipe.label_smoothing, teacher_features=teacher_features)
        opt = make_optimizer(distiller, "sgd", recipe.lr, recipe.momentum, recipe.weight_decay, recipe.nesterov)
        n = len(data.train)
        bs = min(recipe.batch_size, n)
        steps_per_epoch = max(1, n // bs)
        total = steps_per_epoch * recipe.epochs
        warmup = int(recipe.warmup_epochs * steps_per_epoch)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(recipe, total, warmup))
        pad = recipe.crop_pad if recipe.crop_pad is not None else max(1, data.input_shape[1] // 8)
        use_amp = isinstance(recipe, RetrainRecipe) and recipe.amp
        meta = run_meta(recipe, distill, seed, arch or type(model).__name__)
        start, step, history = 0, 0, []
        if checkpoint is not None and Path(checkpoint).is_file():
            start, step, history = _resume(Path(checkpoint), distiller, opt, sched, gen, meta)
        t0 = time.perf_counter()
        # Without augmentation the teacher sees the same inputs every epoch: run it once over the
        # training split instead of on every batch (the same logits, a fraction of the cost).
        cached = None
        if distiller.logits_only and not recipe.augment:
            cached = distiller.teacher_logits(data.train.x, recipe.eval_batch_size, device=device)

        def batch_loss(idx: torch.Tensor, at: int) -> dict[str, torch.Tensor]:
            # batch by batch to the device: a full-training split (an image folder) may not fit there
            xb, yb = data.train.x[idx].to(device), data.train.y[idx].to(device)
            if recipe.augment:
                xb = random_crop_flip(xb, pad, data.flip_ok, generator=None)
            epoch, b = divmod(at, steps_per_epoch)
            with autocast(device, use_amp):
                return distiller(xb, yb, epoch + b / steps_per_epoch,
                                 cached[idx.to(cached.device)] if cached is not None else None)[1]

        # the batches are drawn lazily: resumed at an epoch boundary, the stream goes on where it stopped
        loop = StepLoop(batch_loss, shuffled_batches(n, bs, gen), opt, sched, step=step)
        for epoch in range(start, recipe.epochs):
            distiller.train()
            done = loop.run(steps_per_epoch)
            record = {"epoch": epoch + 1, "loss": sum(done.losses) / steps_per_epoch,
                      "val_acc": accuracy(model, data.val.x, data.val.y, recipe.eval_batch_size),
                      "lr": opt.param_groups[0]["lr"], "seconds": time.perf_counter() - t0,
                      "terms": {k: sum(v) / steps_per_epoch for k, v in done.terms.items()}}
            history.append(record)
            if checkpoint is not None:
                save_state(Path(checkpoint), {
                    "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                    "adapters": {k: v.detach().cpu() for k, v in distiller.adapters.state_dict().items()},
                    "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "rng": rng_state(gen),
                    "epoch": epoch + 1, "step": loop.step, "history": history, "meta": meta,
                })
            if on_epoch is not None:
                on_epoch(epoch, record)
        val = history[-1]["val_acc"] if history else math.nan
        return TrainResult(val, recipe.epochs, loop.step, time.perf_counter() - t0, tuple(history), start)
    finally:
        torch.set_num_threads(prev_threads)
