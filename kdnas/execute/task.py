"""What an executor runs: one trial's proxy evaluation, given everything shared by the study.

`evaluate` never raises: whatever goes wrong inside a trial becomes a failed `TrialOutcome`
with its reason, so one bad student cannot stop the search.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from kdnas.arch import Arch
from kdnas.device import Acceleration, describe_device, resolve_device
from kdnas.distill import HintPair, ProxySpec, TeacherOutputs, run_proxy
from kdnas.distill.probe import Probe, SimilarityResult, run_similarity
from kdnas.distill.resumable import run_rung
from kdnas.errors import TrialFailure, UserError
from kdnas.space import BlockBuilder, StudentBuilder


@dataclass(frozen=True)
class TrialTask:
    """One student to score: the trial number in the study, its architecture text, its seed.

    Successive halving runs a student in rungs: `rung_steps` is where this rung's run stops, and
    the run continues the state in `state_path` from step `resume_from` (0: a fresh student).
    `screen`: the similarity screen of a halving study (the similarity proxy at initialisation,
    under the study's `proxy.similarity` settings), whatever the study's proxy method.
    """

    number: int
    arch: str
    seed: int
    rung_steps: int | None = None
    resume_from: int = 0
    state_path: str | None = None
    screen: bool = False


@dataclass(frozen=True)
class ProxyContext:
    """Everything every trial of a study shares: data tensors, cached teacher outputs, the recipe.

    Built once per search; a remote executor ships it to its workers once.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    teacher: TeacherOutputs | None
    spec: ProxySpec
    in_channels: int
    num_classes: int
    alignment: tuple[tuple[int, int], ...] = ()  # (student stage, teacher stage) pairs
    teacher_channels: tuple[int, ...] = ()
    device: str = "cpu"  # resolved by the driver (`kdnas.device`): cpu, cuda, cuda:N or mps
    student: StudentBuilder = BlockBuilder()  # architecture text -> network (block-wise or NNI)
    probe: Probe | None = None  # the similarity proxy's (or screen's) probe batch, drawn once per study
    accel: Acceleration = Acceleration()  # autocast and layout on CUDA (the study's `executor.advanced`)


@dataclass(frozen=True)
class TrialOutcome:
    """The result of one evaluation, successful or not."""

    number: int
    arch: str
    ok: bool
    val_acc: float | None = None
    reason: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    where: dict[str, str] = field(default_factory=dict)
    score: float | None = None  # what ranks the student (`ProxySpec.ranked_by`); the accuracy by default
    similarity: dict[str, Any] | None = None  # the similarity proxy's measure and compared stages


def hint_pairs(arch: Arch, ctx: ProxyContext) -> list[HintPair]:
    """Hint pairs of `arch`: each aligned student stage output to its teacher stage."""
    return [
        HintPair(f"stages.{s}", t, arch.out_width(s), ctx.teacher_channels[t]) for s, t in ctx.alignment
    ]


def similarity_metrics(sim: SimilarityResult) -> dict[str, float]:
    """The trial metrics of a similarity proxy run: the score, its seconds, each stage's value."""
    return {"similarity": sim.score, "similarity_s": sim.similarity_s, "train_s": sim.train_s,
            "steps": float(sim.steps), **{f"similarity_{i}": v for i, v in enumerate(sim.per_stage)}}


OUT_OF_MEMORY = "out of memory"  # a failed trial's reason when its student did not fit in memory

# What PyTorch's CPU allocator raises (a RuntimeError) when malloc fails; CUDA has its own type.
_CPU_OOM_MESSAGES = ("DefaultCPUAllocator: can't allocate memory", "DefaultCPUAllocator: not enough memory")


def is_out_of_memory(err: BaseException) -> bool:
    """Whether `err` is an allocation failure: CUDA's OutOfMemoryError, or the CPU allocator's."""
    if isinstance(err, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(err, RuntimeError) and any(m in str(err) for m in _CPU_OOM_MESSAGES)


def _where(device: str, ctx: ProxyContext) -> dict[str, str]:
    # the device as resolved where the trial ran, with the GPU's model: `auto` differs by machine;
    # `data_ptr`, where the training split the trial read lives: one address across a worker's
    # trials shows the data was moved to its device once (kdnas.execute.resident)
    return {"host": socket.gethostname(), "pid": str(os.getpid()), "device": describe_device(device),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
            "data_ptr": f"{ctx.x_train.device} {ctx.x_train.data_ptr():#x}"}


def _trial_device(ctx: ProxyContext) -> str:
    """The context's device, checked where the trial runs (a Ray worker may lack what the driver has)."""
    try:
        return str(resolve_device(ctx.device))
    except UserError as err:
        raise TrialFailure(f"{err} on host {socket.gethostname()}") from None


def evaluate(task: TrialTask, ctx: ProxyContext) -> TrialOutcome:
    """Build the student of `task`, run the proxy, and report; failures are captured with a reason."""
    t0 = time.perf_counter()
    prev_threads = torch.get_num_threads()
    device = ctx.device
    try:
        device = _trial_device(ctx)
        torch.set_num_threads(ctx.spec.threads)
        torch.manual_seed(task.seed)
        student = ctx.student(task.arch, ctx.in_channels, ctx.num_classes)
        # Stage alignment exists only for block-wise spaces, whose text is an `Arch`.
        hints = hint_pairs(Arch.from_str(task.arch), ctx) if ctx.alignment else []
        if ctx.spec.method == "similarity" or task.screen:
            assert ctx.probe is not None, "the similarity proxy's (and screen's) context carries its probe"
            sim = run_similarity(student, ctx.x_train, ctx.y_train, ctx.teacher, ctx.spec, ctx.probe, hints,
                                 seed=task.seed, device=device)
            return TrialOutcome(task.number, task.arch, True, None, None, similarity_metrics(sim),
                                time.perf_counter() - t0, _where(device, ctx), sim.score,
                                {"measure": sim.measure, "stages": [list(s) for s in sim.stages],
                                 "probe_size": len(ctx.probe.indices)})
        if task.rung_steps is not None and task.state_path is not None:
            result = run_rung(student, ctx.x_train, ctx.y_train, ctx.x_val, ctx.y_val, ctx.teacher, ctx.spec,
                              arch=task.arch, seed=task.seed, state_path=Path(task.state_path),
                              start=task.resume_from, stop=task.rung_steps, hints=hints, device=ctx.device,
                              accel=ctx.accel)
        else:
            result = run_proxy(
                student, ctx.x_train, ctx.y_train, ctx.x_val, ctx.y_val, ctx.teacher, ctx.spec,
                seed=task.seed, hints=hints, device=ctx.device, accel=ctx.accel,
            )
        metrics = {"train_s": result.train_s, "eval_s": result.eval_s, "final_loss": result.final_loss,
                   **result.losses(),
                   "steps": float(result.steps), **{f"loss_{k}": v for k, v in result.loss_terms.items()}}
        return TrialOutcome(task.number, task.arch, True, result.val_acc, None, metrics,
                            time.perf_counter() - t0, _where(device, ctx), result.score(ctx.spec.advanced.score))
    except TrialFailure as err:
        reason = str(err)
    except Exception as err:  # noqa: BLE001 - any bug in one student must fail only that trial
        if is_out_of_memory(err):
            reason = OUT_OF_MEMORY
            if torch.cuda.is_available():
                torch.cuda.empty_cache()  # hand the failed student's blocks back before the next trial
        else:
            reason = f"{type(err).__name__}: {err}".splitlines()[0][:500]
            traceback.print_exc()
    finally:
        torch.set_num_threads(prev_threads)
    return TrialOutcome(task.number, task.arch, False, None, reason, {}, time.perf_counter() - t0, _where(device, ctx))
