"""What takes a place in a study's budget (`budget.trials`: students trained), and the counts
every table shows: sampled, trained, ok, failed, infeasible, duplicate, running.

A trained student takes a place whether its training succeeded or failed (the time was spent); a
trial cancelled by an interrupt does not (it is queued again). Infeasible and duplicate samples are
recorded so the sampler learns from them, and take no place.

With successive halving (`search.strategy: halving`) each trial is one student at one rung, and a
trained trial takes its rung's student-steps instead of one place: the budget is `budget.trials`
whole proxy runs (`kdnas.study.halving_runner.HalvingPlan.cost`). The counts below stay counts of
trials.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState

from kdnas.study import records as R


def was_trained(t: FrozenTrial) -> bool:
    """A finished trial whose student was trained (status ok, or a training that failed)."""
    if t.state not in (TrialState.COMPLETE, TrialState.FAIL):
        return False
    # studies stored before `trained` existed: their ok trials were trained, their failures are not counted
    return t.user_attrs.get(R.STATUS) == R.STATUS_OK or bool(t.user_attrs.get(R.TRAINED))


def holds_place(t: FrozenTrial) -> bool:
    """Whether `t` holds a budget place now: trained, or running. A running trial's place is
    provisional (it may still turn out infeasible or a duplicate, and give it back); counting it keeps
    several drivers that share a study from training more than the budget between them."""
    return t.state == TrialState.RUNNING or was_trained(t)


def requeued(reason: str | None) -> bool:
    """Whether a failed trial's reason says it was stopped by an interrupt (and queued again)."""
    return (reason or "").startswith((R.CANCELLED, R.INTERRUPTED))


@dataclass(frozen=True)
class Counts:
    """How many trials of a study were sampled, and what became of them."""

    sampled: int  # every trial that drew a student (not the places other drivers gave back, nor queued ones)
    trained: int  # students trained: ok + failed trainings; what `budget.trials` counts
    ok: int
    failed: int  # every failed trial: trainings, samples the space could not build, interrupted ones
    infeasible: int
    duplicate: int
    running: int
    screened: int = 0  # ok trials of a similarity screen (search.screen): scored, never trained

    def line(self) -> str:
        """'12 sampled: 5 trained, 4 ok, 1 failed, 5 infeasible, 2 duplicate, 1 running' (zeros left out,
        but for trained; 'N ok (M at the similarity screen)' with a screen)."""
        ok = f"ok ({self.screened} at the similarity screen)" if self.screened else "ok"
        rest = [f"{n} {k}" for n, k in ((self.ok, ok), (self.failed, "failed"), (self.infeasible, "infeasible"),
                                       (self.duplicate, "duplicate"), (self.running, "running")) if n]
        return f"{self.sampled} sampled: " + ", ".join([f"{self.trained} trained", *rest])


SAMPLED_STATUSES = (R.STATUS_OK, R.STATUS_FAILED, R.STATUS_INFEASIBLE, R.STATUS_DUPLICATE, "running")


def count_rows(statuses: Iterable[str], trained: Iterable[bool], rung_steps: Iterable[object] = ()) -> Counts:
    """`Counts` of trials given as their status (`trials_frame`'s), whether each was trained and, for
    successive halving, its rung's steps (0: the similarity screen)."""
    statuses, trained = list(statuses), list(trained)
    n = {s: statuses.count(s) for s in SAMPLED_STATUSES}
    screened = sum(1 for s, r in zip(statuses, rung_steps) if s == R.STATUS_OK and r == 0)
    return Counts(sum(n.values()), sum(bool(x) for x in trained), n[R.STATUS_OK], n[R.STATUS_FAILED],
                  n[R.STATUS_INFEASIBLE], n[R.STATUS_DUPLICATE], n["running"], screened)
