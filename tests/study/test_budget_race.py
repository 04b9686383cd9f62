"""Two drivers that both count one free place and both ask: the later trial is the one too many.
Places are held by trained students (ok, or a training that failed) and by running trials."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from kdnas.study import records as R
from kdnas.study.runner import _over_budget


def _told(study: optuna.Study, state: TrialState, **attrs: object) -> None:
    t = study.ask()
    for k, v in attrs.items():
        t.set_user_attr(k, v)
    study.tell(t, 0.5 if state == TrialState.COMPLETE else None, state=state)


def test_the_trial_asked_second_for_the_last_place_is_over_budget(tmp_path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'budget.db'}", direction="maximize")
    for _ in range(2):
        _told(study, TrialState.COMPLETE, **{R.STATUS: R.STATUS_OK, R.TRAINED: True})
    _told(study, TrialState.FAIL, **{R.STATUS: R.STATUS_FAILED, R.TRAINED: True})  # a failed training holds its place
    _told(study, TrialState.FAIL, **{R.STATUS: R.STATUS_FAILED, R.TRAINED: False,  # an interrupted one does not
                                     R.REASON: f"{R.CANCELLED}: the search was interrupted"})
    _told(study, TrialState.COMPLETE, **{R.STATUS: R.STATUS_INFEASIBLE})  # nor does an infeasible sample
    _told(study, TrialState.COMPLETE, **{R.STATUS: R.STATUS_DUPLICATE})  # nor a duplicate
    first, second = study.ask(), study.ask()  # both drivers saw 3 trained of a budget of 4
    assert not _over_budget(study, first.number, 4)
    assert _over_budget(study, second.number, 4)
    first.set_user_attr(R.STATUS, R.STATUS_INFEASIBLE)
    study.tell(first, 0.0)  # the first one was infeasible after all: the place is free again
    assert not _over_budget(study, second.number, 4)
