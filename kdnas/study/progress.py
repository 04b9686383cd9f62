"""The progress of a search: students trained of the budget, best accuracy (or, for a study whose
trials measure none, the best score under its name: the similarity to the teacher), front size,
and what the samples became (running, infeasible, duplicate, failed).

On a terminal it is a redrawn tqdm bar; anywhere else (a log file, a pipe) it is one plain line
every few trials, so a log does not fill with carriage returns.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import TextIO

import optuna
from tqdm import tqdm

from kdnas.study import records as R
from kdnas.study.front import front_trials

LINE_EVERY_S = 10.0  # without a terminal: at most one line per this many seconds, and one per student


class Progress:
    """A tqdm bar over trained students (or plain lines when `out` is not a terminal); the postfix shows
    the best feasible accuracy (the best similarity for a similarity study, whose trials measure no
    accuracy), the Pareto-front size and the running, infeasible, duplicate and failed trials."""

    def __init__(self, budget: int, trained: int, *, enabled: bool, study: optuna.Study,
                 out: TextIO | None = None, unit: str = "trained") -> None:
        # `unit`: what the count is; successive halving counts whole proxy runs of student-steps, since
        # one student trained to the first rung only is a fraction of a run
        self.study, self.enabled, self.budget, self.unit = study, enabled, budget, unit
        self.out = out or sys.stderr
        self.plain = enabled and not self.out.isatty()
        self.best: float | None = None
        # a similarity study measures no accuracy: its best is the score that ranks it, named as such
        self.by_score = study.user_attrs.get(R.STUDY_SCORE) == "similarity"
        self.best_label = "best similarity" if self.by_score else "best acc"
        self.front = 0
        self.n_running = 0
        self.trained = trained
        self.seen: Counter[str] = Counter()
        self.last_line = time.monotonic()
        self.bar = None if self.plain else tqdm(
            total=budget, initial=trained, disable=not enabled, desc=study.study_name, unit="student" if unit == "trained" else "run",
            file=self.out, dynamic_ncols=True)
        self._refresh()

    def _refresh(self) -> None:
        if not self.enabled:  # reading the front costs a storage query per trial
            return
        front = front_trials(self.study)
        values = [t.user_attrs.get(R.SCORE if self.by_score else R.VAL_ACC) for t in front]
        self.best = max((v for v in values if v is not None), default=None)
        self.front = len(front)
        self._postfix()

    def _status(self) -> str:
        best = "-" if self.best is None else f"{self.best:.4f}"
        return (f"{self.best_label} {best} | front {self.front} | running {self.n_running} | "
                f"infeasible {self.seen['infeasible']} | duplicate {self.seen['duplicate']} | failed {self.seen['failed']}")

    def _postfix(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(self._status())

    def _line(self) -> None:
        self.last_line = time.monotonic()
        print(f"{self.study.study_name}: {self.trained}/{self.budget} {self.unit} | {self._status()}", file=self.out, flush=True)

    def update(self, trained: int, status: str, acc: float | None = None) -> None:
        """Record a finished trial (`status`: ok, failed, infeasible or duplicate)."""
        self.seen[status] += 1
        new_student = trained != self.trained
        self.trained = trained
        if self.bar is not None:
            self.bar.n = trained
            self._refresh()
            self.bar.refresh()
        elif self.plain and (new_student or time.monotonic() - self.last_line >= LINE_EVERY_S):
            self._refresh()
            self._line()

    def running(self, n: int) -> None:
        """How many trials are being evaluated now."""
        if self.enabled and n != self.n_running:
            self.n_running = n
            self._postfix()

    def close(self) -> None:
        """Finish the bar (or write the last line)."""
        if self.bar is not None:
            self.bar.close()
        elif self.plain:
            self._line()
