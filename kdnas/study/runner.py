"""The search loop: Optuna ask -> costs -> (infeasible | duplicate | executor) -> tell.

The driver is the only place that samples; the executor only evaluates. The budget counts the
students trained (`kdnas.study.budget`): infeasible and duplicate samples are told to the sampler so
it learns from them but take no place, so re-running the same command continues the same study until
that many students are trained, and nothing trained is ever redone. The search also ends when the
same failure repeats (`budget.max_failures` in a row) or when the space has no feasible new student
left (`budget.advanced.max_useless_samples` samples in a row infeasible or already trained).

With `search.strategy: halving` the budget counts student-steps instead (`budget.trials` whole
proxy runs), each trial is one student at one rung, and promotions are queued just before an ask
(`kdnas.study.halving_runner`); everything else is the same loop.

Several drivers may share one study (a database server with heartbeats): the counts that
decide whether to ask again are read from the storage each time, and a driver asks only while
trained + running < budget, so together they fill the budget once.
"""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from kdnas.cost import check_latency_device
from kdnas.errors import TrialFailure
from kdnas.execute import Executor, TrialTask
from kdnas.log import warn
from kdnas.study import records as R
from kdnas.study.budget import holds_place, requeued, was_trained
from kdnas.study.costs import Costs
from kdnas.study.halving_runner import HalvingPlan, rung_of
from kdnas.study.progress import Progress
from kdnas.study.setup import SearchSetup
from kdnas.study.storage import heartbeat_enabled, open_study, recover_orphans, requeue_failed


@dataclass(frozen=True)
class SearchSummary:
    """What one invocation of the search did."""

    study_name: str
    trained: int  # students trained in the study (all drivers, all invocations): the budget's count
    # (halving: whole proxy runs' worth of student-steps)
    failed_now: int
    evaluated_now: int
    recovered: tuple[int, ...]
    stopped_by: str  # budget | time | failures | exhausted | interrupted | screen
    stop_line: str | None = None  # why it stopped, when the failures or the space ended it


CANCELLED = R.CANCELLED  # reason prefix of trials stopped by an interrupt; they are re-queued
_TICK_S = 0.5  # how often the driver looks up from waiting (signals, storage, other drivers)


def objective_values(setup: SearchSetup, score: float, costs: Costs) -> list[float]:
    """Values in the order of the config's objectives; the first (`score`) is the proxy's score
    (`proxy.advanced.score`: the accuracy itself, or a loss negated; higher is better)."""
    by_name = {"score": score, "macs": float(costs.macs), "params": float(costs.params),
               "latency": float(costs.latency_ms if costs.latency_ms is not None else "nan")}
    return [by_name[o] for o in setup.cfg.objectives]


def worst_values(study: optuna.Study) -> list[float]:
    """What an infeasible student is told: the worst value of every objective (-inf for the score,
    +inf for each cost), so that no reader that ignores the constraints sees it on a front or above
    a trained student; its real costs stay in its user attributes.

    The values do not teach the samplers anything wrong: TPE puts a trial with a positive constraint
    value into its "bad" group ranked by the violation alone, and NSGA-II ranks any feasible trial
    above every infeasible one, whatever their values; both need the trial COMPLETE to see it at all
    (a FAIL trial is ignored by both, and NSGA-II reads COMPLETE trials only), hence COMPLETE with
    infinite values rather than another state.
    """
    return [float("-inf") if d == StudyDirection.MAXIMIZE else float("inf") for d in study.directions]


OVER_BUDGET = "over budget: another driver took the last place"
NO_NEW_STUDENT = ("the space has no feasible new student left: the last {n} samples were all infeasible, "
                  "already trained or not buildable (budget.advanced.max_useless_samples)")


Weight = Callable[[dict], int]  # what a trial takes of the budget, from its user attributes


def _one(_attrs: dict) -> int:
    return 1


def _over_budget(study: optuna.Study, number: int, budget: int, weight: Weight = _one) -> bool:
    """Whether trial `number`, just asked, is one too many: trial numbers are handed out in order by
    the storage, so the trials numbered below it that hold a place (trained, or running) are the ones
    that came first. Two drivers that both counted one free place before asking both get a trial;
    this gives it to the one that asked first."""
    before = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL, TrialState.RUNNING))
    return sum(weight(t.user_attrs) for t in before if t.number < number and holds_place(t)) >= budget


def _snapshot(study: optuna.Study, weight: Weight = _one) -> tuple[int, int, dict[str, tuple[float, float, int]]]:
    """From the storage: what the trained and the running trials take of the budget, and {arch: (score,
    accuracy, trial)} of the ones trained successfully (the score is the first objective's value; with
    halving, of the first rung, which a duplicate sample is told: with a screen, the similarity)."""
    trained = running = 0
    known: dict[str, tuple[float, float, int]] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL, TrialState.RUNNING,
                                                      TrialState.PRUNED)):
        if t.state == TrialState.RUNNING:
            running += weight(t.user_attrs)
        elif t.state == TrialState.PRUNED:  # a similarity screen's result (halving), or a place given back
            if t.user_attrs.get(R.STATUS) == R.STATUS_OK and rung_of(t.user_attrs) == 0:
                known.setdefault(t.user_attrs[R.ARCH], (t.user_attrs[R.SCORE], t.user_attrs.get(R.VAL_ACC), t.number))
        elif was_trained(t):
            trained += weight(t.user_attrs)
            if t.user_attrs.get(R.STATUS) == R.STATUS_OK and rung_of(t.user_attrs) == 0:
                known.setdefault(t.user_attrs[R.ARCH], (t.values[0], t.user_attrs[R.VAL_ACC], t.number))
    return trained, running, known


def failure_kind(reason: str | None) -> str:
    """What makes two failures "the same reason": their text with the numbers left out (the step a
    loss became non-finite at, or the bytes a device lacked, differ from student to student)."""
    return re.sub(r"[-+]?\d+(\.\d*)?(e[-+]?\d+)?|\b(nan|inf)\b", "#", reason or "", flags=re.IGNORECASE)


class _Heartbeat:
    """Beats for this driver's running trials so other drivers do not take them for orphans."""

    def __init__(self, study: optuna.Study, interval: int | None) -> None:
        self.storage, self.interval = study._storage, interval
        self.ids: set[int] = set()
        self.lock, self.stop = threading.Lock(), threading.Event()
        self.thread = threading.Thread(target=self._loop, name="kdnas-heartbeat", daemon=True)
        if interval:
            self.thread.start()

    def add(self, trial_id: int) -> None:
        if self.interval:
            self.storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]
            with self.lock:
                self.ids.add(trial_id)

    def discard(self, trial_id: int) -> None:
        with self.lock:
            self.ids.discard(trial_id)

    def _loop(self) -> None:
        while not self.stop.wait(self.interval):
            with self.lock:
                ids = list(self.ids)
            for trial_id in ids:
                try:
                    self.storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]
                except Exception:  # noqa: BLE001 - a lost beat is retried next interval
                    pass

    def close(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)


class _Interrupt:
    """The first Ctrl-C asks the search to stop starting trials; a second one aborts at once."""

    def __init__(self, enabled: bool) -> None:
        self.requested = False
        self.previous = None
        if enabled and threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame) -> None:  # noqa: ANN001
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the second Ctrl-C raises

    def restore(self) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


@dataclass
class _Running:
    trial: optuna.Trial
    arch: Any  # an Arch or an NniSample: its str() is the canonical text
    costs: Costs
    t0: float
    weight: int = 1  # what it takes of the budget (halving: the rung's student-steps)
    followers: list[tuple[optuna.Trial, Costs, float]] = field(default_factory=list)  # same arch, asked meanwhile


def run_search(
    setup: SearchSetup,
    executor: Executor,
    *,
    progress: bool = True,
    should_stop: Callable[[], bool] = lambda: False,
    handle_sigint: bool = True,
) -> SearchSummary:
    """Run the study until `budget.trials` students are trained (or its time is up, the same failure
    repeats `budget.max_failures` times in a row, the space has no feasible new student left, or an
    interrupt: Ctrl-C or `should_stop()`, after which no trial starts and running ones finish, or
    are cancelled and re-queued when `executor.cancel_running_on_interrupt`)."""
    cfg = setup.cfg
    study = open_study(cfg)
    study.set_user_attr(R.STUDY_TEACHER, json.dumps(setup.teacher_info))
    study.set_user_attr(R.STUDY_SPACE, json.dumps({"name": setup.space.name, "size": setup.space.size()}))
    study.set_user_attr(R.STUDY_SCORE, cfg.proxy.ranked_by)
    if setup.ctx.probe is not None:
        study.set_user_attr(R.STUDY_PROBE, json.dumps(list(setup.ctx.probe.indices)))
    if cfg.needs_latency:
        # the provider is what this machine's runtime used: it goes with every latency of the study
        spec = {**cfg.latency.model_dump(mode="json"), "provider": check_latency_device(cfg.latency)}
        study.set_user_attr(R.STUDY_LATENCY_SPEC, json.dumps(spec))
    if cfg.proxy.method == "blockwise":  # the block table picks the trials; the loop confirms them
        from kdnas.study.blockwise import enqueue_from_table

        enqueue_from_table(setup, study, verbose=progress)
    recovered = list(recover_orphans(study))
    several_drivers = heartbeat_enabled(study)
    plan = HalvingPlan.of(cfg, len(setup.ctx.x_train))
    if plan is not None:
        study.set_user_attr(R.STUDY_RUNGS, json.dumps(list(plan.steps)))
        if line := plan.warmup_warning():
            warn(line)
    weight: Weight = plan.cost if plan else _one  # type: ignore[assignment]
    budget = plan.budget(cfg.budget.trials) if plan else cfg.budget.trials
    unit = plan.top if plan else 1  # the progress and the summary count whole proxy runs
    trained, running, known = _snapshot(study, weight)
    failed_now = evaluated_now = 0
    streak: list[str] = []  # reasons of the failures in a row, since the last student trained
    useless = 0  # samples in a row that were infeasible or already trained (or being trained)
    t_start = time.monotonic()
    pending: dict[int, _Running] = {}  # by trial number, submitted to the executor
    by_arch: dict[str, _Running] = {}
    bar = Progress(budget // unit, trained // unit, enabled=progress, study=study,
                   unit="whole runs of student-steps" if plan else "trained")
    heart = _Heartbeat(study, study._storage.get_heartbeat_interval() if several_drivers else None)  # type: ignore[attr-defined]
    interrupt = _Interrupt(handle_sigint)
    stopped_by, stop_line = "budget", None
    cancel_sent = False
    lost = worst_values(study)

    def tell(trial: optuna.Trial, values: list[float] | None, attrs: dict, state: TrialState) -> None:
        for k, v in attrs.items():
            trial.set_user_attr(k, v)
        study.tell(trial, values=values, state=state)
        heart.discard(trial._trial_id)

    def told(trial: optuna.Trial, values: list[float], attrs: dict) -> None:
        """A result: COMPLETE with its values, or a similarity screen's, PRUNED with its values kept
        apart (another scale than a trained student's score; `kdnas.study.halving_runner`)."""
        if plan is not None and plan.screens(trial.user_attrs):
            tell(trial, None, {**attrs, R.SCREEN_VALUES: values}, TrialState.PRUNED)
        else:
            tell(trial, values, attrs, TrialState.COMPLETE)

    def fail(trial: optuna.Trial, attrs: dict, reason: str | None) -> None:
        tell(trial, None, {**attrs, R.STATUS: R.STATUS_FAILED, R.REASON: reason}, TrialState.FAIL)
        if requeued(reason):  # not the student's fault: run it again on resume
            requeue_failed(study, trial)

    def failed(reason: str | None) -> None:
        """One more failure of a student (not an interrupt): the search stops when it repeats."""
        nonlocal failed_now, stopped_by, stop_line
        failed_now += 1
        if streak and failure_kind(streak[-1]) != failure_kind(reason):
            streak.clear()
        streak.append(reason or "")
        if len(streak) >= cfg.budget.max_failures and stopped_by == "budget":
            stopped_by = "failures"
            stop_line = f"{len(streak)} trials in a row failed with the same reason (budget.max_failures): {streak[-1]}"

    def sampled_useless() -> None:
        nonlocal useless, stopped_by, stop_line
        useless += 1
        if useless >= cfg.budget.advanced.max_useless_samples and stopped_by == "budget":
            stopped_by, stop_line = "exhausted", NO_NEW_STUDENT.format(n=useless)

    try:
        executor.start(setup.ctx)
        while True:
            out_of_time = cfg.budget.time_minutes is not None and time.monotonic() - t_start > cfg.budget.time_minutes * 60
            if out_of_time and stopped_by == "budget":
                stopped_by = "time"
            if interrupt.requested or should_stop():
                stopped_by = "interrupted"
                if cfg.executor.cancel_running_on_interrupt and not cancel_sent:
                    executor.cancel()
                    cancel_sent = True
            stopping = stopped_by != "budget"
            if not stopping and executor.outstanding < executor.capacity:
                trained, running, known = _snapshot(study, weight)  # other drivers may have added trials
            while not stopping and trained + running < budget and executor.outstanding < executor.capacity:
                if plan is not None:  # a promotion goes first, queued only now: none is left over at the end
                    plan.offer(study)
                    if plan.screen_full(study.get_trials(deepcopy=False)):
                        break  # no new student: the screen has scored its cap (promotions may still come)
                trial = study.ask()
                if several_drivers and _over_budget(study, trial.number, budget, weight):
                    # another driver asked for the last place between our count and our ask
                    trial.set_user_attr(R.REASON, OVER_BUDGET)
                    study.tell(trial, state=TrialState.PRUNED)
                    trained, running, known = _snapshot(study, weight)
                    continue
                rung = rung_of(trial.user_attrs)
                if plan is not None and rung > 0:
                    holder = plan.held_before(study.get_trials(deepcopy=False), trial.number,
                                              trial.user_attrs[R.ARCH], rung)
                    if holder is not None:  # another driver promoted the same student at the same moment
                        trial.set_user_attr(R.REASON, f"promoted twice: trial {holder} holds this student's rung")
                        study.tell(trial, state=TrialState.PRUNED)
                        continue
                elif plan is not None:
                    for k, v in {**plan.marks(0), R.STUDENT: trial.user_attrs.get(R.STUDENT, trial.number)}.items():
                        trial.set_user_attr(k, v)
                heart.add(trial._trial_id)
                w = weight(trial.user_attrs)
                running += w
                arch = setup.space.suggest(trial)
                # marks the architecture as fully sampled: only such an orphan is re-queued
                trial.set_user_attr(R.ARCH, str(arch))
                try:
                    costs = setup.costs(arch)
                except TrialFailure as err:  # the space cannot build this sample (NNI freeze): only it fails
                    # recorded as failed (the sampler moves away from it), but it is a point of the space,
                    # not a training that failed: it counts toward the useless samples, not max_failures
                    fail(trial, {R.ARCH: str(arch)}, str(err))
                    sampled_useless()
                    running -= w
                    bar.update(trained // unit, "failed")
                    stopping = stopped_by != "budget"
                    continue
                for key, value in costs.violations(cfg.constraints).items():
                    trial.set_constraint(key, value)  # seen by TPE/NSGA-II and by best_trials
                attrs = {R.ARCH: str(arch), R.MACS: costs.macs, R.PARAMS: costs.params,
                         **costs.latency_attrs(), R.CONSTRAINTS: costs.violations(cfg.constraints)}
                reason = costs.reason(cfg.constraints)
                if reason is not None:  # never trained: costs alone decide
                    tell(trial, lost, {**attrs, R.STATUS: R.STATUS_INFEASIBLE, R.REASON: reason}, TrialState.COMPLETE)
                    running -= w
                    bar.update(trained // unit, "infeasible")
                    sampled_useless()
                elif rung == 0 and str(arch) in known:
                    score, acc, first = known[str(arch)]
                    told(trial, objective_values(setup, score, costs),
                         {**attrs, R.STATUS: R.STATUS_DUPLICATE, R.VAL_ACC: acc, R.SCORE: score,
                          R.DUPLICATE_OF: first})
                    running -= w
                    bar.update(trained // unit, "duplicate")
                    sampled_useless()
                else:
                    for k, v in attrs.items():
                        trial.set_user_attr(k, v)
                    if str(arch) in by_arch:  # being trained right now: wait for that result
                        by_arch[str(arch)].followers.append((trial, costs, time.monotonic()))
                        sampled_useless()
                        stopping = stopped_by != "budget"
                        continue
                    useless = 0
                    job = _Running(trial, arch, costs, time.monotonic(), w)
                    pending[trial.number] = by_arch[str(arch)] = job
                    executor.submit(plan.task(trial.number, str(arch), trial.user_attrs, cfg.seed) if plan
                                    else TrialTask(trial.number, str(arch), cfg.seed + trial.number))
                    bar.running(len(pending))
                stopping = stopped_by != "budget"
            if not pending:
                if several_drivers and not stopping and trained < budget and running > 0:
                    time.sleep(_TICK_S * 2)  # other drivers' trials: wait for them, or for them to go stale
                    recovered += recover_orphans(study)
                    trained, running, known = _snapshot(study, weight)
                    continue
                break
            for outcome in executor.wait(timeout=_TICK_S):
                job = pending.pop(outcome.number)
                by_arch.pop(str(job.arch), None)
                trial, costs = job.trial, job.costs
                evaluated_now += 1
                common = {R.WALL_S: time.monotonic() - job.t0, R.WHERE: outcome.where, R.METRICS: outcome.metrics,
                          **({R.SIMILARITY: outcome.similarity} if outcome.similarity else {})}
                cancelled = not outcome.ok and requeued(outcome.reason)
                if outcome.ok:
                    score = outcome.score
                    if rung_of(trial.user_attrs) == 0:
                        known[outcome.arch] = (score, outcome.val_acc, trial.number)  # type: ignore[assignment]
                    screen = plan is not None and plan.screens(trial.user_attrs)  # trains nothing
                    told(trial, objective_values(setup, score, costs),  # type: ignore[arg-type]
                         {**common, R.STATUS: R.STATUS_OK, R.TRAINED: not screen, R.VAL_ACC: outcome.val_acc,
                          R.SCORE: score})
                    for follower, f_costs, _ in job.followers:
                        told(follower, objective_values(setup, score, f_costs),  # type: ignore[arg-type]
                             {R.STATUS: R.STATUS_DUPLICATE, R.VAL_ACC: outcome.val_acc, R.SCORE: score,
                              R.DUPLICATE_OF: trial.number})
                    streak.clear()
                    trained += job.weight
                    bar.update(trained // unit, "ok", acc=outcome.val_acc)
                else:
                    screen = plan is not None and plan.screens(trial.user_attrs)
                    fail(trial, {**common, R.TRAINED: not cancelled and not screen}, outcome.reason)
                    if not cancelled:
                        failed(outcome.reason)
                    for follower, _, _ in job.followers:
                        fail(follower, {R.DUPLICATE_OF: trial.number},
                             outcome.reason if cancelled
                             else f"same architecture as trial {trial.number}, which failed: {outcome.reason}")
                    trained += 0 if cancelled else job.weight
                    bar.update(trained // unit, "failed")
                running -= job.weight + sum(weight(f.user_attrs) for f, _, _ in job.followers)
                bar.running(len(pending))
    finally:
        interrupt.restore()
        heart.close()
        bar.close()
        executor.shutdown()
    if plan is not None and stopped_by == "budget" and trained < budget and plan.screen_full(study.get_trials(deepcopy=False)):
        stopped_by = "screen"
        stop_line = (f"the similarity screen scored its cap of {plan.max_screened} students (eta × the first-rung "
                     f"students the budget can train) and none is left to promote")
    return SearchSummary(cfg.name, trained // unit, failed_now, evaluated_now, tuple(recovered), stopped_by, stop_line)
