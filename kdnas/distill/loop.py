"""The one step loop: proxy runs, full training (teachers, retrained and distilled students) and
block training all take their optimizer steps here.

A caller brings what differs: the batches (index tensors into its training tensors), what a
batch's loss is (named, already weighted terms, as a `Distiller` returns them), the optimizer and
its learning-rate factor per step. The loop draws, steps, schedules and checks that the loss stays
finite. It never resolves a device: the caller has put the model and its data where they run.

Per-step losses stay on the device until the end of a `run` (or every `check_every` steps), so the
loop does not wait for the device at every step (airbench's habit); they come back as Python floats
in step order, the numbers a caller used to read one step at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch

from kdnas.errors import TrialFailure

#: (batch indices, step number) -> {term name: weighted loss}; the step's loss is their sum.
BatchLoss = Callable[[torch.Tensor, int], dict[str, torch.Tensor]]


class NonFiniteLoss(TrialFailure):
    """The loss became NaN or infinite: the run cannot go on (its trial fails, the search goes on)."""

    def __init__(self, step: int, value: float) -> None:
        super().__init__(f"non-finite loss ({value}) at step {step}")
        self.step = step


def shuffled_batches(n: int, batch_size: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """Epochs of `n // batch_size` batches without replacement, a fresh permutation each (the tail
    that does not fill a batch is left out). Lazy: an epoch's permutation is drawn when its first
    batch is, so a generator state saved between epochs resumes the same stream. The indices are
    drawn on the generator's device, so a CUDA generator gives batches that need no copy."""
    bs = min(batch_size, n)
    while True:
        perm = torch.randperm(n, generator=gen, device=gen.device)
        for pos in range(0, n - bs + 1, bs):
            yield perm[pos : pos + bs]


def random_batches(n: int, batch_size: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """Batches drawn with replacement, independently at every step, on the generator's device."""
    bs = min(batch_size, n)
    while True:
        yield torch.randint(0, n, (bs,), generator=gen, device=gen.device)


@dataclass(frozen=True)
class Steps:
    """What a `run` did: each step's loss and each term's value, as floats in step order."""

    losses: list[float]
    terms: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class StepLoop:
    """Steps `optimizer` over `batches` with `loss`; `scheduler` steps after every optimizer step.

    `step` counts the steps taken (set it when resuming); `loss` receives the step number, so a
    term can ramp in (DKD) or a caller can keep its own per-step state.
    """

    loss: BatchLoss
    batches: Iterator[torch.Tensor]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    step: int = 0
    check_every: int = 100

    def run(self, steps: int) -> Steps:
        """Take `steps` steps; `NonFiniteLoss` names the first step whose loss was not finite (it is
        checked every `check_every` steps and at the end, the only times the loop waits)."""
        losses: list[torch.Tensor] = []
        terms: dict[str, list[torch.Tensor]] = {}
        checked = 0
        for i in range(steps):
            parts = self.loss(next(self.batches), self.step)
            loss = sum(parts.values())
            assert isinstance(loss, torch.Tensor)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            self.step += 1
            losses.append(loss.detach())
            for k, v in parts.items():
                terms.setdefault(k, []).append(v.detach())
            if (i + 1) % self.check_every == 0:
                self._check(losses[checked:], self.step - (i + 1 - checked))
                checked = i + 1
        out = _floats(losses)
        self._check(losses[checked:], self.step - (steps - checked))
        return Steps(out, {k: _floats(v) for k, v in terms.items()})

    @staticmethod
    def _check(chunk: list[torch.Tensor], first_step: int) -> None:
        if not chunk:
            return
        values = torch.stack(chunk)
        bad = (~torch.isfinite(values)).nonzero()
        if len(bad):
            i = int(bad[0])
            raise NonFiniteLoss(first_step + i, float(values[i]))


def _floats(values: list[torch.Tensor]) -> list[float]:
    # one transfer for the whole list; float32 values read back exactly as float(t) reads each
    return torch.stack(values).float().tolist() if values else []

