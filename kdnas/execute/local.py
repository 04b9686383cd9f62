"""The local executor: evaluates each trial in this process, one at a time (for debugging and
for the single-core demo). Several students per device: `kdnas.execute.pool`."""

from __future__ import annotations

from dataclasses import replace

from kdnas.execute.base import Executor
from kdnas.execute.resident import on_device
from kdnas.execute.task import ProxyContext, TrialOutcome, TrialTask, evaluate


class LocalExecutor(Executor):
    """In-process, sequential: `submit` runs the trial to completion, `wait` hands the outcome back."""

    name = "local"

    def __init__(self) -> None:
        self._ctx: ProxyContext | None = None
        self._done: list[TrialOutcome] = []

    @property
    def capacity(self) -> int:
        return 1

    @property
    def outstanding(self) -> int:
        return len(self._done)

    def start(self, ctx: ProxyContext) -> None:
        # the data and teacher outputs on the trials' device once, for the whole search (on the CPU:
        # the driver's own tensors)
        self._ctx = on_device(ctx, ctx.device)

    def submit(self, task: TrialTask) -> None:
        if self._ctx is None:
            raise RuntimeError("LocalExecutor.start(ctx) must be called before submit")
        outcome = evaluate(task, self._ctx)
        self._done.append(replace(outcome, where={**outcome.where, "executor": self.name}))

    def wait(self, timeout: float | None = None) -> list[TrialOutcome]:
        done, self._done = self._done, []
        return done
