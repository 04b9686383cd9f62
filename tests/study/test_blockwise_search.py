"""A tiny blockwise study: the table is built, the space scored, the front confirmed and stored."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
from optuna.trial import TrialState

from kdnas.execute import LocalExecutor
from kdnas.study import records as R
from kdnas.study.blockwise import BLOCKWISE_LOSS, STUDY_BLOCKWISE
from kdnas.study.runner import run_search
from kdnas.study.search import load_and_prepare

from tests.studykit import write_study


def test_blockwise_search_writes_a_confirmed_front(tmp_path: Path, teacher_ckpt: Path) -> None:
    proxy = {"method": "blockwise", "steps": 10, "batch_size": 64, "optimizer": "sgd", "lr": 0.05,
             "blockwise": {"steps": 3, "batch_size": 16, "max_samples": 128, "n_students": 500,
                           "advanced": {"val_samples": 64}}}
    path = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)}, proxy=proxy,
                       budget={"trials": 3})
    setup = load_and_prepare(path, verbose=False)
    assert setup.ctx.spec.method == "kd"  # the confirmation run
    summary = run_search(setup, LocalExecutor(), progress=False)
    study = optuna.load_study(study_name="tiny-study", storage=f"sqlite:///{tmp_path / 'study.db'}")
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert summary.trained == 3 and len(done) == 3
    assert all(t.user_attrs[R.STATUS] == R.STATUS_OK and BLOCKWISE_LOSS in t.user_attrs for t in done)
    assert len({t.user_attrs[R.ARCH] for t in done}) == 3
    figures = json.loads(study.user_attrs[STUDY_BLOCKWISE])
    assert figures["blocks_trained"] == figures["blocks"] > 0 and figures["students_scored"] == setup.space.size()  # tiny: all
    # resuming with the budget met builds nothing and adds nothing
    again = run_search(load_and_prepare(path, verbose=False), LocalExecutor(), progress=False)
    assert again.evaluated_now == 0


def test_a_blockwise_search_can_pick_students_by_their_blocks_training_speed(tmp_path: Path, teacher_ckpt: Path) -> None:
    """`proxy.blockwise.score: tse`: each picked student carries the sum of its blocks' training
    speeds (not their losses), read from the table the search built."""
    from kdnas.arch import Arch
    from kdnas.blockwise import ScoreTable, build_block_table, plan_blocks
    from kdnas.teachers import feature_modules

    proxy = {"method": "blockwise", "steps": 10, "batch_size": 64, "optimizer": "sgd", "lr": 0.05,
             "blockwise": {"steps": 3, "batch_size": 16, "max_samples": 128, "n_students": 500,
                           "advanced": {"val_samples": 64, "score": "tse"}}}
    path = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)}, proxy=proxy,
                       budget={"trials": 3})
    setup = load_and_prepare(path, verbose=False)
    assert run_search(setup, LocalExecutor(), progress=False).trained == 3
    study = optuna.load_study(study_name="tiny-study", storage=f"sqlite:///{tmp_path / 'study.db'}")
    # the table again, from the cache the search filled: nothing trained, training speeds present
    c, h, w = setup.data.input_shape
    plan = plan_blocks(setup.space, (h, w), [(s[1], s[2]) for s in setup.teacher_info["stage_shapes"]], True)
    table = build_block_table(plan, setup.teacher.model, setup.data.train.x, setup.data.val.x,
                              teacher_id=setup.teacher.sha256, data_fingerprint=setup.data.fingerprint,
                              num_classes=setup.data.num_classes, spec=setup.cfg.proxy.blockwise, seed=setup.cfg.seed,
                              feature_names=tuple(feature_modules(setup.teacher.model)))
    assert table.trained == 0
    by_tse, by_loss = ScoreTable(table, "tse"), ScoreTable(table)
    for t in study.get_trials(states=(TrialState.COMPLETE,)):
        code = by_tse.encode(Arch.from_str(t.user_attrs[R.ARCH]))[None]
        assert t.user_attrs[BLOCKWISE_LOSS] == float(by_tse.score(code)[0]) != float(by_loss.score(code)[0])
