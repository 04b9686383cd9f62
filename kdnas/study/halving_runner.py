"""Successive halving in the search loop: one Optuna trial per (student, rung), promotions as
enqueued trials, the budget in student-steps.

A student sampled by the sampler is trained to the first rung (`search.min_steps`); a student the
promotion rule (`kdnas.study.halving`) picks is promoted by enqueueing a trial with its parameters
and the attributes `rung`, `promoted_from` and `student`, which the next `ask` pops and the
executor runs as a continuation of the saved state (`kdnas.distill.resumable`). Every trial is
COMPLETE with its own rung's values, so the samplers learn from every student evaluated; the
front, the reports and `retrain --front` read the top rung's results only (`below_top`).

The storage decides everything, so several drivers and a killed driver behave: a promotion is
enqueued only just before an `ask` (no queue left behind when the budget ends); two drivers that
enqueue the same promotion at once both get a trial, and the one numbered higher gives its place
back (the rule `_over_budget` uses for the last budget place); a driver killed mid-rung leaves an
orphan that the next driver re-queues with its rung attributes, and its state file, if the rung was
trained before the kill, is only evaluated.

With `search.screen: similarity` a rung of 0 steps comes first: each sampled student is scored by
the similarity proxy at initialisation (no training, no budget), and only the ones the promotion
rule ranks well enter the first KD rung, which trains from scratch. A screen's similarity is on
another scale than a trained student's score, so its trial is told PRUNED with no values (Optuna's
state for a student a successive-halving rule stopped): NSGA-II and random sampling ignore it, TPE
counts it below every trained student; its (similarity, costs) are kept in the user attribute
`screen_values`, which the promotion rule reads. A screen costs no student-steps, so the number of
students screened is capped: eta × the first-KD-rung students the step budget can train.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from kdnas.distill.proxy import warmup_steps
from kdnas.execute import TrialTask
from kdnas.paths import runs_dir
from kdnas.study import records as R
from kdnas.study.budget import requeued
from kdnas.study.halving import next_promotion, rungs

if TYPE_CHECKING:
    from kdnas.study.config import StudyConfig

# States of the trials that hold a (student, rung): waiting to start, running, or finished (a failed
# training too: it is not promoted again). A PRUNED trial gave its place back.
_HOLDING = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE, TrialState.FAIL)


def state_file(folder: Path, arch: str, student: int) -> Path:
    """The student's state file in the study's state folder, named by its architecture's hash and the
    trial that sampled it (two drivers that sample one architecture at once train two students)."""
    return folder / f"{hashlib.sha256(arch.encode()).hexdigest()[:24]}-{student}.pt"


def rung_of(attrs: Mapping[str, Any]) -> int:
    """A trial's rung index (0 for a plain study's trials and for a sample not yet marked)."""
    return int(attrs.get(R.RUNG, 0))


@dataclass(frozen=True)
class HalvingPlan:
    """The rungs of a halving study and what the search loop asks of them."""

    steps: tuple[int, ...]  # proxy steps at each rung; the last is the whole proxy run (a screen: 0 first)
    eta: int
    states: Path  # the study's folder of student states (shared by every worker)
    max_screened: int = 0  # with a screen: students it may score (0: no screen)

    @classmethod
    def of(cls, cfg: StudyConfig, n_train: int) -> HalvingPlan | None:
        """The plan of a study config (None for the plain strategy)."""
        if cfg.search.strategy != "halving":
            return None
        top = cfg.proxy.total_steps(n_train)
        steps = tuple(rungs(cfg.search.min_steps, cfg.search.eta, top))
        states = (runs_dir() / "states" / cfg.name).resolve()
        if cfg.search.screen == "none":
            return cls(steps, cfg.search.eta, states)
        # the students the step budget could train at the first KD rung, eta times over
        cap = cfg.search.eta * (cfg.budget.trials * top // steps[0])
        return cls((0, *steps), cfg.search.eta, states, cap)

    def warmup_warning(self) -> str | None:
        """A line for a first trained rung that ends inside the short run's learning-rate warm-up,
        where students are ranked before they have trained at full rate (on the search-efficiency
        table, validation accuracy at a 20-step rung agreed with the next at Kendall τ 0.29); else None."""
        first = self.steps[1] if self.screen else self.steps[0]
        warmup = warmup_steps(self.top)
        if first > warmup:
            return None
        return (f"warning: search.min_steps {first} ends inside the proxy's learning-rate warm-up ({warmup} of "
                f"{self.top} steps): the first rung ranks students before they train at full rate; "
                f"a first rung past it ranks better (docs/strategies.md)")

    @property
    def screen(self) -> bool:
        """Whether rung 0 is the similarity screen (0 proxy steps)."""
        return self.steps[0] == 0

    def screens(self, attrs: Mapping[str, Any]) -> bool:
        """Whether a trial with these attributes is a screen (told PRUNED, its values in `screen_values`)."""
        return self.screen and rung_of(attrs) == 0

    @property
    def top(self) -> int:
        """Steps of the whole proxy run: the top rung."""
        return self.steps[-1]

    def budget(self, trials: int) -> int:
        """The search's budget in student-steps: `budget.trials` whole proxy runs."""
        return trials * self.top

    def cost(self, attrs: Mapping[str, Any]) -> int:
        """Student-steps a trial of this rung trains: the rung's steps less the rung below's."""
        r = rung_of(attrs)
        return self.steps[r] - (self.steps[r - 1] if r else 0)

    def marks(self, rung: int) -> dict[str, Any]:
        """The attributes every trial of `rung` carries."""
        return {R.RUNG: rung, R.RUNG_STEPS: self.steps[rung], R.BELOW_TOP: rung < len(self.steps) - 1}

    def task(self, number: int, arch: str, attrs: Mapping[str, Any], seed: int) -> TrialTask:
        """The executor's task for trial `number` at its rung; the student's seed is the study's seed
        plus the number of the trial that sampled it, at every rung."""
        r = rung_of(attrs)
        student = int(attrs.get(R.STUDENT, number))
        if self.screens(attrs):
            return TrialTask(number, arch, seed + student, screen=True)
        return TrialTask(number, arch, seed + student, rung_steps=self.steps[r],
                         resume_from=self.steps[r - 1] if r else 0, state_path=str(state_file(self.states, arch, student)))

    def next_promotion(self, trials: Sequence[FrozenTrial]) -> tuple[FrozenTrial, int] | None:
        """The student to promote now, if any: its trial at rung r and r + 1. Higher rungs first
        (ASHA: the students closest to a whole run finish first), best first within a rung."""
        held = {(t.user_attrs.get(R.ARCH), rung_of(t.user_attrs)) for t in trials
                if t.state in _HOLDING and not _gave_back(t)}
        ok = [t for t in trials if self.values(t) is not None]
        below_top = range(len(self.steps) - 1)
        at_rung = [{t.user_attrs[R.ARCH]: t for t in ok if rung_of(t.user_attrs) == r} for r in below_top]
        promo = next_promotion([{a: self.values(t) for a, t in at.items()} for at in at_rung],  # type: ignore[misc]
                               [{a for a in at_rung[r] if (a, r + 1) in held} for r in below_top], self.eta)
        if promo is None:
            return None
        arch, rung = promo
        return at_rung[rung - 1][arch], rung

    def values(self, t: FrozenTrial) -> tuple[float, ...] | None:
        """The values a successful trial was ranked by at its rung: its objective values, or a screen's
        `screen_values` (similarity and costs); None for any other trial."""
        if t.user_attrs.get(R.STATUS) != R.STATUS_OK:
            return None
        if t.state == TrialState.COMPLETE:
            return tuple(t.values)
        if t.state == TrialState.PRUNED and self.screens(t.user_attrs) and R.SCREEN_VALUES in t.user_attrs:
            return tuple(float(v) for v in t.user_attrs[R.SCREEN_VALUES])
        return None

    def screen_full(self, trials: Sequence[FrozenTrial]) -> bool:
        """Whether the screen has scored its cap of students (those screened, failed or running) and no
        trial is queued: then no new student is sampled."""
        if not self.screen or any(t.state == TrialState.WAITING for t in trials):
            return False
        screened = sum(1 for t in trials if self.screens(t.user_attrs) and (
            t.state == TrialState.RUNNING or t.user_attrs.get(R.STATUS) in (R.STATUS_OK, R.STATUS_FAILED)))
        return screened >= self.max_screened

    def offer(self, study: optuna.Study) -> None:
        """Queue the best promotion for the `ask` that follows, unless a trial is queued already (a
        re-queued one, or another driver's promotion): that one goes first, and this driver's
        promotion, queued behind it, could be left waiting when the budget ends."""
        trials = study.get_trials(deepcopy=False)
        if any(t.state == TrialState.WAITING for t in trials):
            return
        promotion = self.next_promotion(trials)
        if promotion is not None:
            self.enqueue(study, *promotion)

    def enqueue(self, study: optuna.Study, source: FrozenTrial, rung: int) -> None:
        """Queue `source`'s student for `rung`: its parameters, and what says which state it continues."""
        arch = source.user_attrs[R.ARCH]
        study.enqueue_trial(source.params, skip_if_exists=False, user_attrs={
            R.ARCH: arch, **self.marks(rung), R.PROMOTED_FROM: source.number,
            R.STUDENT: int(source.user_attrs.get(R.STUDENT, source.number))})

    def held_before(self, trials: Sequence[FrozenTrial], number: int, arch: str, rung: int) -> int | None:
        """The trial numbered below `number` that already holds `arch` at `rung` (waiting, running or
        finished), when two drivers promoted the same student at once; None when `number` is first."""
        for t in trials:
            if (t.number < number and t.state in _HOLDING and t.user_attrs.get(R.ARCH) == arch
                    and rung_of(t.user_attrs) == rung and not _gave_back(t)):
                return t.number
        return None


def _gave_back(t: FrozenTrial) -> bool:
    """A trial stopped by an interrupt holds nothing: its retry does (when it was re-queued)."""
    return t.state == TrialState.FAIL and requeued(t.user_attrs.get(R.REASON))
