"""`kdnas ls` and `kdnas show`: studies in a storage, and one study's front, in the terminal.

Both only read the storage, so they can watch a search that is still running.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import optuna

from kdnas.errors import UserError
from kdnas.report.rungs import rung_agreement
from kdnas.report.tables import counts_line, format_front
from kdnas.report.view import StudyView, load_view
from kdnas.study.budget import Counts


def check_storage(url: str) -> None:
    """A SQLite file that does not exist is a user error (Optuna would silently create it)."""
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).is_file():
        raise UserError(f"no storage at {url[len('sqlite:///'):]}: run `kdnas search` first, or pass --storage URL")


def study_names(url: str) -> list[str]:
    """Names of the studies in the storage at `url`, sorted."""
    check_storage(url)
    try:
        return sorted(optuna.get_all_study_names(storage=url))
    except Exception as err:  # noqa: BLE001 - a bad URL or server is the user's to fix
        raise UserError(f"cannot open storage '{url}': {type(err).__name__}: {str(err).splitlines()[0]}") from None


@dataclass(frozen=True)
class StudyRow:
    """One line of `kdnas ls`."""

    name: str
    counts: Counts  # sampled, trained (what the budget counts), ok, failed, infeasible, duplicate, running
    front: int
    budget: int | None
    best_acc: float | None
    done: int = 0  # what the budget counted: `counts.trained`, or a halving study's whole runs of student-steps
    best_similarity: float | None = None  # a similarity study measures no accuracy: its best similarity instead

    @classmethod
    def of(cls, v: StudyView) -> StudyRow:
        ok = v.ok["val_acc"].dropna()
        sim = v.ok["score"].dropna() if v.axis.kind == "similarity" else ok.iloc[:0]
        return cls(v.name, v.counts, len(v.front), v.budget, float(ok.max()) if len(ok) else None, v.done,
                   float(sim.max()) if len(sim) else None)

    def best(self) -> str:
        """'acc 0.9300', or 'sim 0.8300' for a study ranked by similarity; '-' before any result."""
        if self.best_acc is not None:
            return f"acc {self.best_acc:.4f}"
        return "-" if self.best_similarity is None else f"sim {self.best_similarity:.4f}"


def list_studies(url: str) -> list[StudyRow]:
    """One row per study in the storage."""
    rows = []
    for name in study_names(url):
        rows.append(StudyRow.of(load_view(optuna.load_study(study_name=name, storage=url))))
    return rows


def format_ls(rows: list[StudyRow], url: str) -> str:
    if not rows:
        return f"no studies in {url}"
    w = max(5, *(len(r.name) for r in rows))
    lines = [f"{'study':<{w}}  {'trained':>9}  {'sampled':>7}  {'ok':>5}  {'failed':>6}  {'infeas':>6}  {'dup':>5}  "
             f"{'running':>7}  {'front':>5}  {'best':>10}"]
    for r in rows:
        c = r.counts
        done = f"{r.done}/{r.budget}" if r.budget else str(r.done)
        best = r.best()
        lines.append(f"{r.name:<{w}}  {done:>9}  {c.sampled:>7}  {c.ok:>5}  {c.failed:>6}  {c.infeasible:>6}  "
                     f"{c.duplicate:>5}  {c.running:>7}  {r.front:>5}  {best:>10}")
    lines.append(f"{len(rows)} stud{'y' if len(rows) == 1 else 'ies'} in {url}")
    return "\n".join(lines)


def progress_line(v: StudyView, width: int = 30) -> str:
    """'[#####-----] 45/100 trained (45 %), 2 running, 3 failed': students trained of the budget."""
    c, budget = v.counts, v.budget
    tail = f", {c.running} running, {c.failed} failed"
    # successive halving counts whole proxy runs' worth of student-steps, not trials
    done, what = v.done, "whole runs of student-steps" if v.rungs else "trained"
    if not budget:
        return f"{done} {what}{tail}"
    frac = min(1.0, done / budget)
    bar = "#" * round(frac * width) + "-" * (width - round(frac * width))
    state = " (running)" if c.running else (" (done)" if done >= budget else "")
    return f"[{bar}] {done}/{budget} {what} ({100 * frac:.0f} %){tail}{state}"


def format_show(v: StudyView) -> str:
    """`kdnas show`: progress, counts, and the front with the teacher as reference."""
    lines = [f"study {v.name}: {progress_line(v)}", counts_line(v.trials)]
    lines += [f"rungs {pair.line()}" for pair in rung_agreement(v.trials)]  # successive halving only
    if v.trials.empty:
        lines.append("no trials yet")
    elif len(v.front):
        lines.append(format_front(v.front, v.teacher, v.axis))
    elif v.count("failed") == len(v.trials):
        lines.append("every trial failed: the front is empty")
    else:
        lines.append("no feasible trained trial yet: the front is empty")
    return "\n".join(lines)
