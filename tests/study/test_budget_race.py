"""Two drivers that both count one free place and both ask: the later trial is the one too many."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from kdnas.study.runner import _over_budget


def test_the_trial_asked_second_for_the_last_place_is_over_budget(tmp_path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'budget.db'}", direction="maximize")
    for _ in range(3):
        t = study.ask()
        study.tell(t, 0.5)
    failed = study.ask()
    study.tell(failed, state=TrialState.FAIL)  # a failed trial holds no place
    first, second = study.ask(), study.ask()  # both drivers saw 3 complete of a budget of 4
    assert not _over_budget(study, first.number, 4)
    assert _over_budget(study, second.number, 4)
    study.tell(first, state=TrialState.FAIL)  # the first one failed after all: the place is free again
    assert not _over_budget(study, second.number, 4)
