"""Successive halving end to end on digits: promotions continue their students, every rung is
stored, the front holds the top rung only, the budget counts student-steps."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import optuna
import pytest
import torch
from optuna.trial import TrialState

from kdnas.distill.state import load_state
from kdnas.execute import LocalExecutor
from kdnas.execute.task import TrialTask, evaluate
from kdnas.report.rungs import rung_agreement
from kdnas.study import records as R
from kdnas.study.budget import was_trained
from kdnas.study.front import front_trials
from kdnas.study.halving_runner import HalvingPlan, state_file
from kdnas.study.runner import run_search
from kdnas.study.search import load_and_prepare

from tests.studykit import write_study

RUNGS = [4, 12, 36]


def halving_study(tmp: Path, teacher_ckpt: Path, trials: int = 3, **over) -> Path:
    """A tiny halving study: rungs of 4, 12 and 36 proxy steps, `trials` whole runs of budget."""
    return write_study(tmp, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)},
                       proxy={"method": "kd", "steps": 36, "batch_size": 64, "optimizer": "sgd", "lr": 0.05},
                       sampler={"name": "random"}, budget={"trials": trials},
                       search={"strategy": "halving", "min_steps": 4, "eta": 3}, **over)


def check_rungs(trials: list[optuna.trial.FrozenTrial], budget_steps: int, rungs: list[int] = RUNGS,
                drivers: int = 1) -> None:
    """What every halving study must hold, however it was run: promotions continue the student one
    rung below, no student is trained twice at one rung, and the budget is spent once (each driver
    may start one trial as the last place goes)."""
    by_number = {t.number: t for t in trials}
    trained = [t for t in trials if t.user_attrs.get(R.STATUS) == R.STATUS_OK]
    assert {t.user_attrs[R.RUNG_STEPS] for t in trained} <= set(rungs)
    pairs = Counter((t.user_attrs[R.STUDENT], t.user_attrs[R.RUNG]) for t in trials if was_trained(t))
    assert max(pairs.values()) == 1  # no student trained twice at the same rung
    promoted = Counter((t.user_attrs[R.ARCH], t.user_attrs[R.RUNG]) for t in trials
                       if was_trained(t) and t.user_attrs[R.RUNG] > 0)
    assert max(promoted.values(), default=1) == 1  # no architecture promoted twice to one rung
    if drivers == 1:  # one driver never trains an architecture twice (two drivers that sample the same
        # one at the same moment both train it, as in the plain loop: two students, two state files)
        archs = Counter((t.user_attrs[R.ARCH], t.user_attrs[R.RUNG]) for t in trials if was_trained(t))
        assert max(archs.values()) == 1
    for t in trained:
        rung = t.user_attrs[R.RUNG]
        assert t.user_attrs[R.RUNG_STEPS] == rungs[rung] == t.user_attrs[R.METRICS]["steps"]
        assert t.user_attrs[R.BELOW_TOP] == (rung < len(rungs) - 1)
        if rung:
            source = by_number[t.user_attrs[R.PROMOTED_FROM]]
            assert source.user_attrs[R.RUNG] == rung - 1 and source.user_attrs[R.STATUS] == R.STATUS_OK
            assert source.params == t.params and source.user_attrs[R.ARCH] == t.user_attrs[R.ARCH]
            assert t.user_attrs[R.STUDENT] == source.user_attrs[R.STUDENT]
    spent = sum(rungs[t.user_attrs[R.RUNG]] - (rungs[t.user_attrs[R.RUNG] - 1] if t.user_attrs[R.RUNG] else 0)
                for t in trials if was_trained(t))
    assert budget_steps <= spent < budget_steps + drivers * rungs[-1]
    assert all(t.state != TrialState.WAITING for t in trials)  # no promotion left queued


def _check_report(study: optuna.Study, tmp: Path, ok: list[optuna.trial.FrozenTrial]) -> None:
    """`kdnas show` and the report page give τ between consecutive rungs over the students at both."""
    from scipy.stats import kendalltau

    from kdnas.report import build_report
    from kdnas.report.terminal import format_show
    from kdnas.report.view import load_view

    view = load_view(study)
    assert view.rungs == RUNGS
    assert set(view.ok["trial"]) == {t.number for t in ok if t.user_attrs[R.RUNG] == 2}  # plotted: top rung only
    pairs = rung_agreement(view.trials)
    assert [(p.lower, p.upper) for p in pairs] == [(4, 12), (12, 36)]
    at = {r: {t.user_attrs[R.ARCH]: t.values[0] for t in ok if t.user_attrs[R.RUNG] == r} for r in range(3)}
    for p, r in zip(pairs, range(2)):
        both = sorted(set(at[r]) & set(at[r + 1]))
        assert p.n == len(both) >= 1
        if len(both) >= 2:
            want = kendalltau([at[r][a] for a in both], [at[r + 1][a] for a in both]).statistic
            assert p.kendall_tau == pytest.approx(want, nan_ok=True)
    from kdnas.report.terminal import StudyRow, format_ls

    assert " 3/3 " in format_ls([StudyRow.of(view)], "sqlite://")  # kdnas ls: whole runs against budget.trials
    shown = format_show(view)
    assert "3/3 whole runs of student-steps" in shown
    assert "rungs 4 -> 12 steps: Kendall τ" in shown and "rungs 12 -> 36 steps: Kendall τ" in shown
    page = build_report([study], tmp / "reports").index_html.read_text()
    assert "Rung against rung" in page and "4 -&gt; 12 steps: Kendall τ" in page


def test_halving_promotes_continues_and_keeps_the_front_to_the_top_rung(tmp_path: Path, teacher_ckpt: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = halving_study(tmp_path, teacher_ckpt)
    setup = load_and_prepare(path, verbose=False)
    summary = run_search(setup, LocalExecutor(), progress=True)
    # the progress counts whole runs of student-steps, not rung trials as if each were a student trained
    progress = [line for line in capsys.readouterr().err.splitlines() if line.startswith("tiny-study: ")]
    assert progress and progress[-1].startswith("tiny-study: 3/3 whole runs of student-steps |")
    study = optuna.load_study(study_name="tiny-study", storage=f"sqlite:///{tmp_path / 'study.db'}")
    trials = study.get_trials(deepcopy=False)
    check_rungs(trials, 3 * 36)
    assert summary.trained == 3  # whole proxy runs' worth of student-steps
    ok = [t for t in trials if t.user_attrs.get(R.STATUS) == R.STATUS_OK]
    rungs = Counter(t.user_attrs[R.RUNG] for t in ok)
    assert rungs[0] > rungs[1] >= rungs[2] >= 1  # fewer students at each rung, some at the top
    assert all(t.values[0] == t.user_attrs[R.SCORE] for t in ok)  # each trial told its own rung's values

    front = front_trials(study)
    assert front and all(t.user_attrs[R.RUNG] == 2 for t in front)  # the front reads the top rung only

    # a student taken to the top through the rungs has the numbers of one trained straight
    top = next(t for t in ok if t.user_attrs[R.RUNG] == 2)
    seed = setup.cfg.seed + top.user_attrs[R.STUDENT]
    straight = evaluate(TrialTask(999, top.user_attrs[R.ARCH], seed), setup.ctx)
    assert straight.ok and straight.metrics["steps"] == 36
    assert (straight.score, straight.val_acc) == (top.user_attrs[R.SCORE], top.user_attrs[R.VAL_ACC])
    _check_report(study, tmp_path, ok)
    plan = HalvingPlan.of(setup.cfg, len(setup.ctx.x_train))
    assert plan is not None and plan.steps == tuple(RUNGS)
    state = load_state(state_file(plan.states, top.user_attrs[R.ARCH], top.user_attrs[R.STUDENT]))
    assert state["step"] == 36 and len(state["losses"]) == 36  # one history, continued rung to rung
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_a_promotion_enqueued_twice_at_once_is_held_by_the_first(tmp_path: Path) -> None:
    # two drivers saw the same promotable student and both queued it: the trial numbered higher yields
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'race.db'}", directions=["maximize", "minimize"])
    plan = HalvingPlan((4, 12, 36), 3, tmp_path / "states")
    for i in range(3):
        t = study.ask()
        t.suggest_int("x", 0, 9)
        for k, v in {**plan.marks(0), R.ARCH: f"a{i}", R.STUDENT: t.number, R.STATUS: R.STATUS_OK}.items():
            t.set_user_attr(k, v)
        study.tell(t, [0.5 + i / 10, 100.0 + i])  # one front: a2 best and dearest, a0 cheapest
    source, rung = plan.next_promotion(study.get_trials())
    assert rung == 1 and source.user_attrs[R.ARCH] in ("a0", "a2")  # an extreme of the front first
    plan.offer(study)
    plan.offer(study)  # one promotion queued: the second offer finds it waiting and adds nothing
    assert [t.state for t in study.get_trials()].count(TrialState.WAITING) == 1
    first = study.ask()
    plan.enqueue(study, source, rung)  # another driver queued the same promotion at the same moment
    second = study.ask()
    assert first.user_attrs[R.PROMOTED_FROM] == second.user_attrs[R.PROMOTED_FROM] == source.number
    arch = source.user_attrs[R.ARCH]
    trials = study.get_trials()
    assert plan.held_before(trials, first.number, arch, 1) is None
    assert plan.held_before(trials, second.number, arch, 1) == first.number
    assert plan.next_promotion(trials) is None  # ⌊3/3⌋ = 1 promoted already
    task = plan.task(first.number, arch, first.user_attrs, seed=10)
    assert (task.seed, task.resume_from, task.rung_steps) == (10 + source.number, 4, 12)
    assert task.state_path == str(state_file(plan.states, arch, source.number))


def test_a_first_rung_inside_the_warm_up_is_warned_of(tmp_path: Path) -> None:
    # 180 steps warm up over 18: a first rung at 18 ranks students still warming up, one at 20 does not
    warned = HalvingPlan((18, 54, 180), 3, tmp_path).warmup_warning()
    assert warned is not None and "search.min_steps 18" in warned and "(18 of 180 steps)" in warned
    assert HalvingPlan((20, 60, 180), 3, tmp_path).warmup_warning() is None
    assert HalvingPlan((0, 18, 54, 180), 3, tmp_path, max_screened=9).warmup_warning() is not None  # after a screen
