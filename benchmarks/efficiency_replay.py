"""Search strategies replayed on the search-efficiency table: real Optuna samplers, table lookups for training.

A replay asks the study's sampler (`kdnas.study.storage.make_sampler`, with kdnas's sampler settings)
for students through the space's own `suggest`, and tells it what the table holds for the student at
the rung it was trained to, with its MACs: (score maximised, MACs minimised), kdnas's default
objectives. What it costs is counted in student-steps: a plain trial costs the top rung's steps; under
successive halving a new student costs the first rung's, a promotion the difference to the next rung.

Halving is run as kdnas runs it (`kdnas.study.halving_runner`): one Optuna trial per (student, rung),
so the sampler learns from every evaluated student; a promotion is enqueued with the student's
parameters just before an ask, chosen by the loop's own `kdnas.study.halving.next_promotion`
(higher rungs first, ASHA's rule in the multi-objective order). As in kdnas's loop, a sample of a
student already trained is told that student's values (at the first rung it was trained to) and costs nothing,
and the search ends after `max_useless` such samples in a row, or once every student of the table is
trained and none is left to promote (the space is exhausted: nothing could change any more).

The hypervolume is the report's (`kdnas.report.view`): (-accuracy, MACs / scale) against (0, 1), over
the students trained to the top rung only (halving's front, like the report's, is the top rung's), with
one scale for every replay: 1.1 x the table's largest MACs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import optuna
from optuna.trial import TrialState

from benchmarks.efficiency_table import enumerate_space
from kdnas.errors import UserError
from kdnas.pareto import hypervolume_2d, non_dominated_mask
from kdnas.report.view import HV_REFERENCE
from kdnas.space import SearchSpace
from kdnas.study.config import SamplerConfig
from kdnas.study.halving import next_promotion, rungs
from kdnas.study.storage import make_sampler

SCORES = ("val_acc", "val_loss", "tse", "tse_late")  # higher is better for val_acc; the losses are negated


@dataclass(frozen=True)
class Table:
    """The built table as a replay reads it: each student's MACs and its score at each rung."""

    rungs: tuple[int, ...]
    macs: dict[str, float]
    acc: dict[str, tuple[float, ...]]  # validation accuracy at each rung (the hypervolume's)
    score: dict[str, tuple[float, ...]]  # what the sampler and the promotions see, higher is better

    @classmethod
    def read(cls, path: Path, score: str = "val_acc") -> Table:
        """The table at `path` (written by `python -m benchmarks.search_efficiency build`)."""
        try:
            t = json.loads(Path(path).read_text())
            students = t["students"]
            steps = tuple(int(r) for r in t["rungs"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise UserError(f"{path}: cannot read a search-efficiency table ({err})") from None
        if score not in SCORES:
            raise UserError(f"unknown score {score!r}; one of {', '.join(SCORES)}")
        sign = 1.0 if score == "val_acc" else -1.0
        return cls(steps, {s["arch"]: float(s["macs"]) for s in students},
                   {s["arch"]: tuple(float(s["rungs"][str(r)]["val_acc"]) for r in steps) for s in students},
                   {s["arch"]: tuple(sign * float(s["rungs"][str(r)][score]) for r in steps) for s in students})

    @property
    def scale(self) -> float:
        """The MACs that normalise every replay's hypervolume: 1.1 x the largest in the table."""
        return 1.1 * max(self.macs.values())

    def hypervolume(self, archs: list[str]) -> float:
        """The report's hypervolume of `archs` trained to the top rung."""
        if not archs:
            return 0.0
        pts = np.array([[-self.acc[a][-1], self.macs[a] / self.scale] for a in archs])
        return hypervolume_2d(pts, np.array(HV_REFERENCE))

    def best_hypervolume(self) -> float:
        """The hypervolume of the whole table's front: what a search that trained every student reaches."""
        return self.hypervolume(list(self.macs))

    def front(self) -> list[str]:
        """The table's Pareto front at the top rung (accuracy up, MACs down)."""
        archs = list(self.macs)
        pts = np.array([[-self.acc[a][-1], self.macs[a]] for a in archs])
        return [a for a, keep in zip(archs, non_dominated_mask(pts)) if keep]


@dataclass
class Trace:
    """What one replay did: after each training, the student-steps spent so far and the hypervolume."""

    steps: list[int] = field(default_factory=lambda: [0])
    hv: list[float] = field(default_factory=lambda: [0.0])
    trained: list[int] = field(default_factory=lambda: [0])  # students trained to the top rung so far
    samples: int = 0
    duplicates: int = 0
    promotions: int = 0
    stopped_by: str = "budget"

    def at(self, steps: float) -> float:
        """The hypervolume once `steps` student-steps were spent (trainings finished within them)."""
        i = int(np.searchsorted(np.asarray(self.steps), steps, side="right")) - 1
        return self.hv[max(i, 0)]

    def reach(self, target: float) -> float:
        """Student-steps spent when the hypervolume first reached `target` (inf when it never did)."""
        for s, h in zip(self.steps, self.hv):
            if h >= target - 1e-12:
                return float(s)
        return float("inf")


def replay(table: Table, space: SearchSpace, sampler: str, seed: int, budget: int, *, eta: int | None = None,
           halving_rungs: tuple[int, ...] | None = None, max_useless: int = 1000) -> Trace:
    """One search on `table` with `sampler` ("random", "tpe" or "nsga2") seeded `seed` until `budget`
    student-steps are spent: the plain loop (every student to the top rung), or with `eta` successive
    halving over the table's rungs (or over `halving_rungs`, some of them ending at the top one).
    A training starts while fewer than `budget` steps are spent."""
    steps = (halving_rungs or table.rungs) if eta else table.rungs[-1:]
    if not set(steps) <= set(table.rungs) or steps[-1] != table.rungs[-1]:
        raise UserError(f"halving rungs {list(steps)} must be rungs of the table {list(table.rungs)}, ending at its top")
    if eta and list(steps) != rungs(steps[0], eta, steps[-1]):
        raise UserError(f"the table's rungs {list(steps)} are not rungs of eta {eta} (min {steps[0]}, top {steps[-1]})")
    if {str(a) for a in enumerate_space(space)} != set(table.macs):
        raise UserError(f"the table has no student for some architectures of space '{space.name}', or students "
                        "outside it: it was built on another space")
    top = len(steps) - 1
    cfg = SimpleNamespace(sampler=SamplerConfig(name=sampler), seed=seed)  # what make_sampler reads of a study
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=make_sampler(cfg))  # type: ignore[arg-type]
    at_rung: list[dict[str, tuple[float, float]]] = [{} for _ in steps]
    params: dict[str, dict] = {}
    promoted: list[set[str]] = [set() for _ in steps]
    reached: dict[str, int] = {}  # each student's highest rung
    finished: list[str] = []
    trace, spent, useless = Trace(), 0, 0
    while spent < budget:
        promo = next_promotion(at_rung[:-1], promoted[:-1], eta) if eta else None
        if promo is None and len(reached) == len(table.macs):
            # every student trained and none to promote: from here kdnas's loop only samples duplicates,
            # which change nothing, until `max_useless` of them end it; so end now
            trace.stopped_by = "exhausted"
            break
        if promo is not None:
            arch, rung = promo
            promoted[rung - 1].add(arch)
            study.enqueue_trial(params[arch])
            trial = study.ask()
            if str(space.suggest(trial)) != arch:
                raise RuntimeError(f"an enqueued promotion of {arch} was asked as another student")
            trace.promotions += 1
        else:
            trial = study.ask()
            arch = str(space.suggest(trial))
            trace.samples += 1
            if arch in reached:  # already trained: told its first rung's values, no place taken (kdnas's duplicate)
                first = table.rungs.index(steps[0])
                study.tell(trial, [table.score[arch][first], table.macs[arch]], state=TrialState.COMPLETE)
                trace.duplicates += 1
                useless += 1
                if useless >= max_useless:
                    trace.stopped_by = "exhausted"
                    break
                continue
            useless, rung = 0, 0
            params[arch] = trial.params
        cost = steps[rung] - (steps[rung - 1] if rung else 0)
        spent += cost
        reached[arch] = table.rungs.index(steps[rung])
        value = table.score[arch][reached[arch]]
        study.tell(trial, [value, table.macs[arch]])
        at_rung[rung][arch] = (value, table.macs[arch])
        if rung == top:
            finished.append(arch)
        trace.steps.append(spent)
        trace.hv.append(table.hypervolume(finished) if rung == top else trace.hv[-1])
        trace.trained.append(len(finished))
    return trace

