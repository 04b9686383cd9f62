"""A proxy run taken in parts (successive halving's rungs), each continuing the saved state of the last.

A student promoted from one rung to the next is not trained again: its run stops at the rung's step
count, is evaluated, and its state is written to one file per student (atomically); the next rung
loads that state and goes on. The state holds everything the run needs to continue exactly: the
student's and hint adapters' weights, the optimizer and scheduler (the schedule's horizon is the
whole proxy budget, so a student taken to the top has the plain run's schedule), the torch RNG,
and every step's loss (the `tse` scores average the whole history). The batch stream is replayed
from its seed to the saved step (one permutation per epoch: milliseconds). The state is written
before the rung's evaluation, whose BatchNorm recalibration rewrites running statistics and leaves
the network in eval mode: the next rung continues the trained state, not the evaluated one, so a
student taken to the top through rungs gives the numbers of one trained straight.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from kdnas.device import Acceleration
from kdnas.distill.loop import StepLoop, Steps
from kdnas.distill.proxy import HintPair, ProxyResult, scored, short_run
from kdnas.distill.spec import ProxySpec
from kdnas.distill.state import load_state, rng_state, save_state, set_rng_state
from kdnas.distill.teacher_cache import TeacherOutputs
from kdnas.errors import CheckpointError, TrialFailure


def _meta(arch: str, seed: int, spec: ProxySpec) -> dict[str, Any]:
    return {"arch": arch, "seed": seed, "proxy": spec.run_json()}


def usable_state(path: Path, arch: str, seed: int, spec: ProxySpec, start: int, stop: int) -> dict | None:
    """The saved state at `path` when it is this run's (architecture, seed, proxy recipe) and stands at
    a step in [start, stop]; None otherwise (absent, unreadable, another run's, or past `stop`)."""
    if not path.is_file():
        return None
    try:
        state = load_state(path)
    except CheckpointError:
        return None
    if state.get("meta") != _meta(arch, seed, spec) or not start <= int(state["step"]) <= stop:
        return None
    return state


def run_rung(
    student: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    teacher: TeacherOutputs | None,
    spec: ProxySpec,
    *,
    arch: str,
    seed: int,
    state_path: Path,
    start: int,
    stop: int,
    hints: list[HintPair] | None = None,
    device: str = "cpu",
    accel: Acceleration | None = None,
) -> ProxyResult:
    """Take `arch`'s proxy run from step `start` (0, or the rung below's steps) to step `stop`, save
    its state to `state_path`, and score it there.

    From 0 the run starts afresh (a state another run left there is replaced). From a later step
    it continues the state at `state_path`; when that state already stands at `stop` (a driver died
    after the rung was trained but before it was recorded) the rung is only evaluated. A missing
    state fails the trial with a reason (the runs folder must be shared by every worker).
    `student` is the freshly built network (seeded as for the plain run).
    """
    state = usable_state(state_path, arch, seed, spec, start, stop) if start > 0 else \
        usable_state(state_path, arch, seed, spec, stop, stop)
    if state is None and start > 0:
        raise TrialFailure(f"no saved state of this student at step {start} in {state_path}: with workers on "
                           "several machines the runs folder must be shared (docs/distributed.md)")
    history: Steps = Steps([], {})
    held: dict[str, Any] = {}

    def restore(trained: nn.Module, loop: StepLoop) -> None:
        held["trained"], held["loop"] = trained, loop
        if state is None:
            return
        trained.load_state_dict(state["model"])
        loop.optimizer.load_state_dict(state["optimizer"])
        loop.scheduler.load_state_dict(state["scheduler"])
        for _ in range(int(state["step"])):  # the batch stream replayed to where the run stopped
            next(loop.batches)
        loop.step = int(state["step"])
        set_rng_state(state["rng"], torch.Generator())
        history.losses.extend(state["losses"])
        history.terms.update({k: list(v) for k, v in state["terms"].items()})

    student, steps, train_s = short_run(student, x_train, y_train, teacher, spec, seed=seed, hints=hints,
                                        device=device, until=stop, resume=restore, accel=accel)
    history.losses.extend(steps.losses)
    for k, values in steps.terms.items():
        history.terms.setdefault(k, []).extend(values)
    loop: StepLoop = held["loop"]
    if state is None or int(state["step"]) < stop:
        save_state(state_path, {
            "meta": _meta(arch, seed, spec), "step": loop.step, "model": held["trained"].state_dict(),
            "optimizer": loop.optimizer.state_dict(), "scheduler": loop.scheduler.state_dict(),
            # torch's own RNG (the batch stream is replayed from its seed, so no generator of its own)
            "rng": rng_state(torch.Generator()), "losses": history.losses, "terms": history.terms,
        })
    # scored after the save (see above), as `run_proxy` scores
    return scored(student, history, train_s, x_train, x_val, y_val, spec, seed, device=device, accel=accel)
