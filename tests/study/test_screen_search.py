"""A similarity screen as the first rung of successive halving (`search.screen: similarity`): every
sampled student is scored at initialisation, only the ones the promotion rule ranks well are
trained, the front holds top-rung students only, and `kdnas show` gives the screen's τ against the
first KD rung."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from kdnas.execute import LocalExecutor
from kdnas.study import records as R
from kdnas.study.budget import was_trained
from kdnas.study.config import config_from_dict, load_study_config
from kdnas.study.front import front_trials
from kdnas.study.halving_runner import HalvingPlan
from kdnas.study.runner import run_search
from kdnas.study.search import load_and_prepare

from tests.studykit import study_dict, write_study
from tests.test_cli import assert_user_error, kdnas

SCREENED = {"strategy": "halving", "min_steps": 4, "eta": 3, "screen": "similarity"}
STEPS = [0, 4, 12]  # the screen, then the KD rungs


def screened_study(tmp: Path, teacher_ckpt: Path, **over) -> Path:
    """A tiny halving study with the screen: rungs of 0 (screen), 4 and 12 steps, 2 whole runs of budget."""
    return write_study(tmp, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)},
                       proxy={"method": "kd", "steps": 12, "batch_size": 64, "optimizer": "sgd", "lr": 0.05,
                              "similarity": {"probe_size": 32}},
                       budget={"trials": 2}, search=SCREENED, **over)


def test_the_screen_trains_only_promoted_students_and_the_front_is_the_top_rung(
        tmp_path: Path, teacher_ckpt: Path) -> None:
    setup = load_and_prepare(screened_study(tmp_path, teacher_ckpt), verbose=False)
    assert setup.ctx.probe is not None and len(setup.ctx.probe.indices) == 32
    summary = run_search(setup, LocalExecutor(), progress=False)  # TPE: it reads the screens' PRUNED trials
    assert summary.trained == 2 and summary.stopped_by == "budget"
    study = optuna.load_study(study_name="tiny-study", storage=f"sqlite:///{tmp_path / 'study.db'}")
    trials = study.get_trials(deepcopy=False)
    assert json_list(study.user_attrs[R.STUDY_RUNGS]) == STEPS
    by_number = {t.number: t for t in trials}

    screens = [t for t in trials if t.user_attrs.get(R.RUNG) == 0 and t.user_attrs.get(R.STATUS) == R.STATUS_OK]
    for t in screens:  # scored, never trained, told without values (another scale than a trained score)
        assert t.state == TrialState.PRUNED and t.values is None and not was_trained(t)
        assert t.user_attrs[R.METRICS]["steps"] == 0.0 and t.user_attrs[R.SIMILARITY]["measure"] == "diswot"
        assert t.user_attrs[R.SCREEN_VALUES] == [t.user_attrs[R.SCORE], float(t.user_attrs[R.MACS])]
        assert t.user_attrs[R.RUNG_STEPS] == 0 and t.user_attrs[R.BELOW_TOP]

    trained = [t for t in trials if was_trained(t)]
    assert trained and all(t.user_attrs[R.RUNG] >= 1 for t in trained)
    first = [t for t in trained if t.user_attrs[R.RUNG] == 1]
    for t in first:  # every student trained was promoted by the screen, from scratch
        source = by_number[t.user_attrs[R.PROMOTED_FROM]]
        assert source in screens and source.params == t.params
        assert t.user_attrs[R.METRICS]["steps"] == 4 and t.state == TrialState.COMPLETE
        # promoted when it was in the top 1/eta of the screens finished before it was queued
        earlier = {s.user_attrs[R.ARCH]: tuple(s.user_attrs[R.SCREEN_VALUES]) for s in screens if s.number < t.number}
        assert source.user_attrs[R.ARCH] in _top_third(earlier)
    # some screened students were never trained (ASHA: an early pick may leave the top third later, so
    # the share trained is not exactly 1/eta, but each pick was in it when it was made, as checked above)
    assert len(screens) > len(first)
    spent = sum(STEPS[t.user_attrs[R.RUNG]] - STEPS[t.user_attrs[R.RUNG] - 1] for t in trained)
    assert 2 * 12 <= spent < 3 * 12

    front = front_trials(study)
    assert front and all(t.user_attrs[R.RUNG] == 2 for t in front)  # top-rung students only

    from kdnas.report.terminal import format_show
    from kdnas.report.view import load_view

    view = load_view(study)
    assert set(view.ok["trial"]) == {t.number for t in trained if t.user_attrs[R.RUNG] == 2}
    shown = format_show(view)
    assert "2/2 whole runs of student-steps" in shown
    assert f"ok ({len(screens)} at the similarity screen)" in shown  # counted apart: scored, never trained
    assert "rungs similarity screen -> 4 steps: Kendall τ" in shown and "rungs 4 -> 12 steps" in shown

    # the same file again: the stored config (the screen and its similarity settings) matches, and the
    # budget is spent, so nothing is screened or trained again
    again = run_search(load_and_prepare(screened_study(tmp_path, teacher_ckpt), verbose=False), LocalExecutor(),
                       progress=False)
    assert again.evaluated_now == 0 and again.trained == 2


def json_list(raw: str) -> list[int]:
    import json

    return json.loads(raw)


def _top_third(results: dict[str, tuple[float, ...]]) -> list[str]:
    from kdnas.study.halving import priority_order

    return priority_order(results)[: len(results) // 3]


def _screen(number: int, arch: str, similarity: float, macs: float, state: TrialState = TrialState.PRUNED):
    return create_trial(state=state, values=None if state != TrialState.COMPLETE else [similarity, macs],
                        params={}, distributions={},
                        user_attrs={R.ARCH: arch, R.RUNG: 0, R.STATUS: R.STATUS_OK,
                                    R.SCREEN_VALUES: [similarity, macs]})


def test_the_plan_promotes_from_the_screens_values_and_caps_the_screened(tmp_path: Path) -> None:
    cfg = config_from_dict(study_dict(tmp_path, proxy={"method": "kd", "steps": 12}, budget={"trials": 2},
                                      search=SCREENED))
    plan = HalvingPlan.of(cfg, 1000)
    assert plan is not None and list(plan.steps) == STEPS and plan.screen
    assert plan.max_screened == 3 * (2 * 12 // 4)  # eta × the first-rung students the budget can train
    assert plan.cost({R.RUNG: 0}) == 0 and plan.cost({R.RUNG: 1}) == 4  # a screen takes no student-steps
    task = plan.task(5, "a", {R.RUNG: 0}, seed=0)
    assert task.screen and task.state_path is None
    assert not plan.task(6, "a", {R.RUNG: 1, R.STUDENT: 5}, seed=0).screen

    # equal MACs: the most similar of three screens is promoted, from its screen values
    trials = [_screen(i, a, s, 1e5) for i, (a, s) in enumerate([("a", -3.0), ("b", -1.0), ("c", -2.0)])]
    source, rung = plan.next_promotion(trials)  # type: ignore[misc]
    assert source.user_attrs[R.ARCH] == "b" and rung == 1

    few = HalvingPlan(plan.steps, 3, plan.states, max_screened=3)
    assert few.screen_full(trials) and not few.screen_full(trials[:2])
    waiting = create_trial(state=TrialState.WAITING, params={}, distributions={})
    assert not few.screen_full([*trials, waiting])  # a queued promotion goes on first


def test_a_screen_needs_halving_and_scores_at_initialisation(tmp_path: Path) -> None:
    path = write_study(tmp_path, search={"screen": "similarity"})
    assert_user_error(kdnas("search", str(path), cwd=tmp_path), "needs search.strategy halving")
    assert not (tmp_path / "study.db").exists()  # nothing stored
    with pytest.raises(Exception, match="remove proxy.similarity.steps"):
        config_from_dict(study_dict(tmp_path, proxy={"method": "kd", "steps": 36, "similarity": {"steps": 5}},
                                    search=SCREENED))
    # the screen's similarity settings are part of what the study means; without a screen they are not stored
    screened = load_study_config(write_study(tmp_path, "s.yaml", proxy={"method": "kd", "steps": 36}, search=SCREENED))
    assert screened.resolved()["proxy"]["similarity"]["measure"] == "diswot"
    assert screened.resolved()["search"]["screen"] == "similarity"
    plain = load_study_config(write_study(tmp_path, "p.yaml"))
    assert "similarity" not in plain.resolved()["proxy"] and plain.resolved()["search"]["screen"] == "none"
