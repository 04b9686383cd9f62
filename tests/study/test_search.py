"""End-to-end searches on digits with a tiny space: budget, resume, constraints, failures."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from kdnas.execute import LocalExecutor
from kdnas.study import records as R
from kdnas.study.front import front_frame
from kdnas.study.budget import was_trained
from kdnas.study.runner import failure_kind, run_search
from kdnas.study.search import load_and_prepare

from tests.studykit import write_study
from tests.test_cli import kdnas


def _study(path: Path, name: str = "tiny-study") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{path.parent / 'study.db'}")


def _run(path: Path):
    setup = load_and_prepare(path, verbose=False)
    return run_search(setup, LocalExecutor(), progress=False)


def _trained(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.trials if was_trained(t)]


def test_search_fills_budget_and_resumes_without_redoing(tmp_path: Path, teacher_ckpt: Path) -> None:
    path = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)})
    first = _run(path)
    study = _study(path)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert first.trained == 6 == first.evaluated_now and len(_trained(study)) == 6
    assert study.metric_names == ["score", "macs"]  # what Optuna and optuna-dashboard show
    assert study.user_attrs[R.STUDY_SCORE] == "tse_late"  # which score the first objective holds
    for t in complete:
        assert t.user_attrs[R.ARCH] and t.user_attrs[R.MACS] > 0 and t.user_attrs[R.PARAMS] > 0
        if t.user_attrs[R.STATUS] == R.STATUS_OK:
            assert 0.0 <= t.user_attrs[R.VAL_ACC] <= 1.0
            # ranked by the default score, the second half's training speed: the first objective is that loss negated
            assert t.values[0] == t.user_attrs[R.SCORE] == -t.user_attrs[R.METRICS]["tse_late"]
            assert t.values[1] == t.user_attrs[R.MACS]
            assert t.user_attrs[R.WALL_S] > 0 and t.user_attrs[R.WHERE]["executor"] == "local"
    assert not front_frame(study).empty

    again = _run(path)  # same command: budget already met, nothing evaluated
    assert again.evaluated_now == 0 and len(_study(path).trials) == len(study.trials)

    more = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)}, budget={"trials": 8})
    third = _run(more)  # a larger budget continues the same study
    after = _study(path).get_trials(states=(TrialState.COMPLETE,))
    assert len(_trained(_study(path))) == 8 and third.evaluated_now == 2
    assert [t.user_attrs[R.ARCH] for t in after[:len(complete)]] == [t.user_attrs[R.ARCH] for t in complete]


def test_infeasible_samples_take_no_budget_place_and_never_look_good(tmp_path: Path, teacher_ckpt: Path) -> None:
    """About half the tiny space is over 42K MACs: a budget of 10 still trains exactly 10 students."""
    path = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)},
                       constraints={"max_macs": 42_000}, budget={"trials": 10}, sampler={"name": "random"})
    summary = _run(path)
    study = _study(path)
    trained, infeasible = _trained(study), [t for t in study.trials if t.user_attrs.get(R.STATUS) == R.STATUS_INFEASIBLE]
    assert summary.trained == summary.evaluated_now == len(trained) == 10 and summary.stopped_by == "budget"
    assert len(infeasible) >= 3  # samples that took no place
    for t in infeasible:
        assert t.state == TrialState.COMPLETE and t.constraints["max_macs"] > 0  # the sampler sees them, infeasible
        assert t.user_attrs[R.MACS] > 42_000 and "MACs" in t.user_attrs[R.REASON]  # the real cost, recorded
        for i, d in enumerate(study.directions):  # no value better than any trained student's
            worst = min if d == optuna.study.StudyDirection.MAXIMIZE else max
            assert worst(t.values[i], *(u.values[i] for u in trained)) == t.values[i]
    ranked = sorted(study.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: t.values[0], reverse=True)
    assert all(t.user_attrs[R.STATUS] != R.STATUS_INFEASIBLE for t in ranked[:10])  # a reader ranking by score
    # Optuna's own front holds trained students (or a repeat sample of one, told its values), never an infeasible one
    for t in study.best_trials:
        assert t.number in {u.number for u in trained} or t.user_attrs[R.STATUS] == R.STATUS_DUPLICATE


def test_a_space_with_no_feasible_student_ends_the_search_with_one_line(tmp_path: Path, teacher_ckpt: Path) -> None:
    """Every student is over 1000 MACs: none is trained, and the search ends after the bound on
    useless samples in a row instead of sampling forever."""
    path = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)},
                       constraints={"max_macs": 1000}, sampler={"name": "random"},
                       budget={"trials": 4, "advanced": {"max_useless_samples": 25}})
    proc = kdnas("search", str(path), "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("kdnas: ")]
    assert lines == ["kdnas: search stopped: the space has no feasible new student left: the last 25 samples were "
                     "all infeasible, already trained or not buildable (budget.advanced.max_useless_samples)"], proc.stderr
    study = _study(path)
    assert len(study.trials) == 25
    for t in study.trials:
        assert t.user_attrs[R.STATUS] == R.STATUS_INFEASIBLE
        assert "MACs" in t.user_attrs[R.REASON]
        assert R.WALL_S not in t.user_attrs  # never trained
        assert t.constraints["max_macs"] > 0  # Optuna's own constraint record
    assert front_frame(study).empty
    assert "25 sampled: 0 trained, 25 infeasible" in proc.stdout


def test_the_same_failure_three_times_in_a_row_stops_the_search(tmp_path: Path, teacher_ckpt: Path) -> None:
    """A learning rate of 1e30 makes every student's loss non-finite: a systematic failure. The search
    stops after three (budget.max_failures' default) instead of spending its budget of 10, keeps the
    failed trials, and `kdnas search` exits non-zero with the reason in one line."""
    path = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)},
                       proxy={"method": "kd", "steps": 20, "optimizer": "sgd", "lr": 1e30}, budget={"trials": 10})
    proc = kdnas("search", str(path), "--no-progress", cwd=tmp_path)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    stop = [ln for ln in proc.stderr.splitlines() if ln.startswith("kdnas: ")]
    assert len(stop) == 1 and stop[0].startswith(
        "kdnas: search stopped: 3 trials in a row failed with the same reason (budget.max_failures): non-finite loss"), stop
    failed = _study(path).get_trials(states=(TrialState.FAIL,))
    assert len(failed) == 3 and all("non-finite loss" in t.user_attrs[R.REASON] for t in failed)
    assert all(t.user_attrs[R.TRAINED] for t in failed)  # failed trainings took budget places
    assert "3 sampled: 3 trained, 3 failed" in proc.stdout


def test_failure_kind_ignores_the_numbers_in_a_reason() -> None:
    assert failure_kind("non-finite loss (nan) at step 3") == failure_kind("non-finite loss (inf) at step 17")
    assert failure_kind("out of memory") != failure_kind("non-finite loss (nan) at step 3")


@pytest.mark.parametrize("sampler", ["nsga2", "random"])
def test_other_samplers_run(tmp_path: Path, teacher_ckpt: Path, sampler: str) -> None:
    path = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)},
                       sampler={"name": sampler, "population_size": 4}, budget={"trials": 3},
                       objectives=["score", "macs", "params"])
    assert _run(path).trained == 3
    assert len(_study(path).directions) == 3 and _study(path).metric_names == ["score", "macs", "params"]


def test_hint_proxy_runs(tmp_path: Path, teacher_ckpt: Path) -> None:
    path = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)},
                       proxy={"method": "hint", "steps": 10}, budget={"trials": 2})
    assert _run(path).trained == 2
    ok = [t for t in _study(path).trials if t.user_attrs.get(R.STATUS) == R.STATUS_OK]
    assert ok and any(k.startswith("loss_hint") for k in ok[0].user_attrs[R.METRICS])


def test_interrupted_trials_are_failed_and_requeued(tmp_path: Path, teacher_ckpt: Path) -> None:
    path = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)}, budget={"trials": 3})
    setup = load_and_prepare(path, verbose=False)
    from kdnas.study.storage import open_study

    study = open_study(setup.cfg)
    orphan = study.ask()  # what a driver killed mid-trial leaves behind: a RUNNING trial
    arch = setup.space.suggest(orphan)
    orphan.set_user_attr(R.ARCH, str(arch))  # as the driver does once the last parameter is drawn
    summary = run_search(setup, LocalExecutor(), progress=False)
    study = _study(path)
    assert summary.recovered == (orphan.number,)
    assert study.trials[orphan.number].state == TrialState.FAIL
    assert "interrupted" in study.trials[orphan.number].user_attrs[R.REASON]
    retried = [t for t in study.trials if t.user_attrs.get(R.RETRY_OF) == orphan.number]
    assert len(retried) == 1 and retried[0].user_attrs[R.ARCH] == str(arch)
    assert len(_trained(study)) == 3


def test_orphan_killed_mid_sampling_is_failed_not_requeued(tmp_path: Path, teacher_ckpt: Path) -> None:
    path = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)}, budget={"trials": 2})
    setup = load_and_prepare(path, verbose=False)
    from kdnas.study.storage import open_study

    study = open_study(setup.cfg)
    orphan = study.ask()  # killed after two of its parameters: its architecture was never decided
    orphan.suggest_categorical("stem", setup.space.stem)
    orphan.suggest_categorical("s0.op", setup.space.stages[0].op)
    summary = run_search(setup, LocalExecutor(), progress=False)
    study = _study(path)
    assert summary.recovered == (orphan.number,)
    assert study.trials[orphan.number].state == TrialState.FAIL
    assert not [t for t in study.trials if t.user_attrs.get(R.RETRY_OF) == orphan.number]
    assert len(_trained(study)) == 2


def test_time_budget_stops_the_search(tmp_path: Path, teacher_ckpt: Path) -> None:
    path = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)},
                       budget={"trials": 50, "time_minutes": 0.0001})
    summary = _run(path)
    assert summary.stopped_by == "time" and summary.trained < 50


@pytest.mark.parametrize("score", ["tse", "val_loss", "tse_late", None])
def test_a_loss_score_ranks_the_trials(tmp_path: Path, teacher_ckpt: Path, score: str | None) -> None:
    """`score` None: the defaults, AdamW at 0.003 ranked by training speed over the second half."""
    proxy = {"method": "kd", "steps": 15, "batch_size": 64}
    proxy |= {"optimizer": "sgd", "lr": 0.05, "advanced": {"score": score}} if score else {}
    path = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)}, proxy=proxy,
                       budget={"trials": 4})
    assert _run(path).trained == 4
    study = _study(path)
    stored = json.loads(study.user_attrs[R.STUDY_CONFIG])["proxy"]
    assert (stored["optimizer"], stored["lr"], stored["advanced"]["score"]) == (("sgd", 0.05, score) if score else ("adamw", 3e-3, "tse_late"))
    score = score or "tse_late"
    ok = [t for t in study.trials if t.user_attrs.get(R.STATUS) == R.STATUS_OK]
    assert len(ok) >= 2
    for t in ok:
        loss = t.user_attrs[R.METRICS][score]
        assert loss > 0 and t.values[0] == t.user_attrs[R.SCORE] == -loss  # maximised: the loss negated
        assert 0.0 <= t.user_attrs[R.VAL_ACC] <= 1.0  # the accuracy is still recorded
    front = front_frame(study)
    by_arch = {t.user_attrs[R.ARCH]: t for t in ok}
    for r in front.itertuples():  # no trained trial has a lower loss at no more MACs
        assert not any(t.user_attrs[R.SCORE] > r.score and t.user_attrs[R.MACS] <= r.macs for t in ok)
        assert r.score == by_arch[r.arch].user_attrs[R.SCORE]
