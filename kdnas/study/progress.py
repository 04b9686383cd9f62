"""The progress line of a search: trials complete of the budget, best accuracy, front size,
trials running and failed."""

from __future__ import annotations

import sys

import optuna
from tqdm import tqdm

from kdnas.study.front import front_trials


class Progress:
    """A tqdm bar over complete trials; postfix shows best feasible accuracy, Pareto-front size,
    running and failed trials."""

    def __init__(self, budget: int, complete: int, *, enabled: bool, study: optuna.Study) -> None:
        self.study = study
        self.enabled = enabled
        self.best = float("nan")
        self.front = 0
        self.failed = 0
        self.n_running = 0
        self.bar = tqdm(total=budget, initial=complete, disable=not enabled, desc=study.study_name,
                        unit="trial", file=sys.stderr, dynamic_ncols=True)
        self._refresh()

    def _refresh(self) -> None:
        if not self.enabled:  # reading the front costs a storage query per trial
            return
        front = front_trials(self.study)
        accs = [t.user_attrs.get("val_acc") for t in front]
        self.best = max((a for a in accs if a is not None), default=float("nan"))
        self.front = len(front)
        self._postfix()

    def _postfix(self) -> None:
        self.bar.set_postfix_str(f"best acc {self.best:.4f} | front {self.front} | "
                                 f"running {self.n_running} | failed {self.failed}")

    def update(self, complete: int, status: str, acc: float | None = None) -> None:
        """Record a finished trial."""
        if status == "failed":
            self.failed += 1
        self.bar.n = complete
        self._refresh()
        self.bar.refresh()

    def running(self, n: int) -> None:
        """How many trials are being evaluated now."""
        if self.enabled and n != self.n_running:
            self.n_running = n
            self._postfix()

    def close(self) -> None:
        """Finish the bar."""
        self.bar.close()
