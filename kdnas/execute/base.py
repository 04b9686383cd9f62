"""The executor boundary: the driver (Optuna ask/tell) hands tasks over, outcomes come back.

The controller never trains; an executor never samples. A new backend (Ray) implements this
class and nothing else changes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from kdnas.execute.task import ProxyContext, TrialOutcome, TrialTask


class Executor(ABC):
    """Runs trial evaluations.

    Contract: `start(ctx)` once before any `submit`; at most `capacity` tasks are outstanding;
    `wait()` blocks until at least one outstanding task has finished (if any is outstanding) or
    `timeout` seconds have passed, and returns the finished outcomes, each exactly once;
    `cancel()` makes every outstanding task come back failed; `shutdown()` releases resources and is safe
    to call twice.
    """

    name: str = "executor"

    @property
    @abstractmethod
    def capacity(self) -> int:
        """How many tasks may be outstanding at once."""

    @abstractmethod
    def start(self, ctx: ProxyContext) -> None:
        """Receive the study's shared inputs (once per search)."""

    @abstractmethod
    def submit(self, task: TrialTask) -> None:
        """Start evaluating `task`."""

    @abstractmethod
    def wait(self, timeout: float | None = None) -> list[TrialOutcome]:
        """Outcomes of finished tasks (blocking until one finishes, or `timeout` seconds)."""

    @property
    @abstractmethod
    def outstanding(self) -> int:
        """Tasks submitted whose outcomes have not been returned yet."""

    def cancel(self) -> None:
        """Stop the outstanding tasks; each still comes back from `wait()`, failed with a reason
        that starts with "cancelled". Default: nothing runs in the background, nothing to cancel."""

    def shutdown(self) -> None:
        """Release workers; default: nothing to do."""
