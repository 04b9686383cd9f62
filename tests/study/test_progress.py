"""The search's progress off a terminal: plain lines, no carriage returns."""

from __future__ import annotations

import io

import optuna

from kdnas.study import records as R
from kdnas.study.progress import Progress


def test_without_a_terminal_progress_is_plain_lines() -> None:
    study = optuna.create_study(study_name="p", directions=["maximize", "minimize"])
    out = io.StringIO()  # not a terminal, as a log file or a pipe
    bar = Progress(4, 0, enabled=True, study=study, out=out)
    bar.update(0, "infeasible")  # no new student, and the last line is recent: nothing yet
    bar.update(1, "ok", acc=0.5)
    bar.update(1, "duplicate")
    bar.update(2, "failed")
    bar.close()
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert lines == [
        "p: 1/4 trained | best acc - | front 0 | running 0 | infeasible 1 | duplicate 0 | failed 0",
        "p: 2/4 trained | best acc - | front 0 | running 0 | infeasible 1 | duplicate 1 | failed 1",
        "p: 2/4 trained | best acc - | front 0 | running 0 | infeasible 1 | duplicate 1 | failed 1",
    ]


def test_disabled_progress_writes_nothing() -> None:
    out = io.StringIO()
    bar = Progress(4, 0, enabled=False, study=optuna.create_study(directions=["maximize", "minimize"]), out=out)
    bar.update(1, "ok")
    bar.close()
    assert out.getvalue() == ""


def _trained(study: optuna.Study, score: float, macs: float, val_acc: float | None) -> None:
    attrs = {R.STATUS: R.STATUS_OK, R.SCORE: score, **({R.VAL_ACC: val_acc} if val_acc is not None else {})}
    study.add_trial(optuna.trial.create_trial(values=[score, macs], user_attrs=attrs))


def test_a_similarity_study_shows_its_best_similarity_not_a_missing_accuracy() -> None:
    study = optuna.create_study(study_name="s", directions=["maximize", "minimize"])
    study.set_user_attr(R.STUDY_SCORE, "similarity")
    _trained(study, 0.61, 2000.0, None)  # a similarity trial measures no accuracy
    _trained(study, 0.83, 9000.0, None)
    out = io.StringIO()
    bar = Progress(4, 2, enabled=True, study=study, out=out)
    bar.close()
    assert out.getvalue().splitlines() == ["s: 2/4 trained | best similarity 0.8300 | front 2 | running 0 | infeasible 0 | "
                                           "duplicate 0 | failed 0"]


def test_a_kd_study_shows_its_best_accuracy_whatever_ranks_it() -> None:
    study = optuna.create_study(study_name="k", directions=["maximize", "minimize"])
    study.set_user_attr(R.STUDY_SCORE, "tse_late")
    _trained(study, -1.2, 2000.0, 0.91)
    _trained(study, -0.9, 9000.0, 0.88)
    out = io.StringIO()
    Progress(4, 2, enabled=True, study=study, out=out).close()
    assert "| best acc 0.9100 | front 2 |" in out.getvalue()
