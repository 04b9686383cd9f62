"""SQLite studies are kept in write-ahead-log mode (cheap commits, still safe against a killed process)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import optuna

from kdnas.study.config import config_from_dict
from kdnas.study.storage import open_study
from tests.studykit import study_dict


def _as_version_1(stored: dict) -> dict:
    """A stored config as kdnas stored it before the proxy's expert fields moved under `advanced`
    (and before it said its schema version)."""
    proxy = {k: v for k, v in stored["proxy"].items() if k != "advanced"} | stored["proxy"]["advanced"]
    if "blockwise" in proxy:
        bw = proxy["blockwise"]
        proxy["blockwise"] = {k: v for k, v in bw.items() if k != "advanced"} | bw["advanced"]
    return {k: v for k, v in {**stored, "proxy": proxy}.items() if k != "schema_version"}


def test_sqlite_study_is_in_wal_mode_and_keeps_what_it_committed(tmp_path: Path) -> None:
    cfg = config_from_dict(study_dict(tmp_path))
    study = open_study(cfg)
    trial = study.ask()
    trial.suggest_categorical("x", [1, 2])
    study.tell(trial, [0.5, 1.0])
    with sqlite3.connect(tmp_path / "study.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0] == 1
    assert len(open_study(cfg).trials) == 1  # reopened: the same study, its trial kept


def test_a_study_stored_before_bn_recalibration_existed_resumes_with_its_old_behaviour(tmp_path: Path) -> None:
    """Studies stored before `proxy.bn_recalibration` was added scored without it (0): resuming one
    with the new default is a config change named with its fix; saying 0 resumes it."""
    import json

    import pytest

    from kdnas.errors import ConfigError
    from kdnas.study import records as R
    from kdnas.study.storage import check_resumable

    cfg = config_from_dict(study_dict(tmp_path))
    study = open_study(cfg)
    old = _as_version_1(json.loads(study.user_attrs[R.STUDY_CONFIG]))
    del old["proxy"]["bn_recalibration"]  # as an older kdnas stored it
    study.set_user_attr(R.STUDY_CONFIG, json.dumps(old))
    with pytest.raises(ConfigError, match=r"proxy\.advanced\.bn_recalibration: 0 in the stored study, 512 now"):
        check_resumable(cfg)
    d = study_dict(tmp_path)
    d["proxy"] = {**d["proxy"], "advanced": {"bn_recalibration": 0}}
    assert check_resumable(config_from_dict(d))


def test_a_study_stored_before_proxy_score_existed_resumes_ranked_by_accuracy(tmp_path: Path) -> None:
    """Studies stored before `proxy.score` ranked by accuracy: they resume as they were, and asking
    for another score is a config change named with its fix."""
    import json

    import pytest

    from kdnas.errors import ConfigError
    from kdnas.study import records as R
    from kdnas.study.storage import check_resumable

    study = open_study(config_from_dict(study_dict(tmp_path)))
    old = _as_version_1(json.loads(study.user_attrs[R.STUDY_CONFIG]))
    del old["proxy"]["score"]  # as an older kdnas stored it
    study.set_user_attr(R.STUDY_CONFIG, json.dumps(old))
    d = study_dict(tmp_path)
    d["proxy"] = {**d["proxy"], "advanced": {"score": "accuracy"}}
    assert check_resumable(config_from_dict(d))
    d["proxy"] = {**d["proxy"], "advanced": {"score": "tse"}}
    with pytest.raises(ConfigError, match=r"proxy\.advanced\.score: accuracy in the stored study, tse now"):
        check_resumable(config_from_dict(d))


def test_a_study_stored_under_the_old_proxy_defaults_names_them_when_resumed(tmp_path: Path) -> None:
    """Before AdamW ranked by training speed became the default, a config without `optimizer`,
    `lr` and `score` meant SGD at 0.05 ranked by accuracy, and its study was stored so. The same
    config now means another proxy: resuming is refused with the three values that continue it,
    and nothing is written."""
    import json

    import pytest

    from kdnas.errors import ConfigError
    from kdnas.study import records as R
    from kdnas.study.storage import check_resumable

    old_style = study_dict(tmp_path)
    old_style["proxy"] = {**old_style["proxy"], "optimizer": "sgd", "lr": 0.05, "advanced": {"score": "accuracy"}}
    study = open_study(config_from_dict(old_style))
    stored = study.user_attrs[R.STUDY_CONFIG]
    relying = study_dict(tmp_path)
    relying["proxy"] = {k: v for k, v in relying["proxy"].items() if k not in {"optimizer", "lr"}}
    with pytest.raises(ConfigError) as err:
        check_resumable(config_from_dict(relying))
    msg = str(err.value)
    for hint in ("proxy.optimizer: sgd in the stored study, adamw now", "proxy.lr: 0.05 in the stored study, 0.003 now",
                 "proxy.advanced.score: accuracy in the stored study, tse_late now"):
        assert hint in msg, msg
    assert "\n" not in msg
    again = optuna.load_study(study_name=study.study_name, storage=config_from_dict(old_style).storage_url)
    assert again.user_attrs[R.STUDY_CONFIG] == stored and not again.trials
    assert json.loads(stored)["proxy"]["optimizer"] == "sgd"
    assert check_resumable(config_from_dict(old_style))


def test_a_blockwise_study_stored_before_block_scores_existed_resumes_scored_by_loss(tmp_path: Path) -> None:
    """Block-wise studies stored before `proxy.blockwise.score` summed block losses: they resume
    as they were; asking for the blocks' training speed is a config change named by its full path."""
    import json

    import pytest

    from kdnas.errors import ConfigError
    from kdnas.study import records as R
    from kdnas.study.storage import check_resumable

    d = study_dict(tmp_path)
    d["proxy"] = {**d["proxy"], "method": "blockwise"}
    study = open_study(config_from_dict(d))
    old = _as_version_1(json.loads(study.user_attrs[R.STUDY_CONFIG]))
    del old["proxy"]["blockwise"]["score"]  # as an older kdnas stored it
    study.set_user_attr(R.STUDY_CONFIG, json.dumps(old))
    assert check_resumable(config_from_dict(d))
    d["proxy"] = {**d["proxy"], "blockwise": {"advanced": {"score": "tse"}}}
    with pytest.raises(ConfigError, match=r"proxy\.blockwise\.advanced\.score: loss in the stored study, tse now"):
        check_resumable(config_from_dict(d))


def test_a_study_stored_under_the_whole_run_training_speed_default_names_it_when_resumed(tmp_path: Path) -> None:
    """`score: tse` was the default before `tse_late`: a study stored then holds it, and a config
    relying on the default is refused with the value that continues it."""
    import pytest

    from kdnas.errors import ConfigError
    from kdnas.study.storage import check_resumable

    was = study_dict(tmp_path)
    was["proxy"] = {k: v for k, v in was["proxy"].items() if k not in {"optimizer", "lr"}} | {"advanced": {"score": "tse"}}
    open_study(config_from_dict(was))
    now = study_dict(tmp_path)
    now["proxy"] = {k: v for k, v in was["proxy"].items() if k != "advanced"}
    with pytest.raises(ConfigError, match=r"proxy\.advanced\.score: tse in the stored study, tse_late now"):
        check_resumable(config_from_dict(now))
    assert check_resumable(config_from_dict(was))


def test_a_study_stored_under_the_old_recalibration_default_names_it_when_resumed(tmp_path: Path) -> None:
    """`bn_recalibration` defaulted to 2048 images before 512: a study stored then holds 2048, and a
    config relying on the default is refused with the value that continues it; nothing is written."""
    import json

    import pytest

    from kdnas.errors import ConfigError
    from kdnas.study import records as R
    from kdnas.study.storage import check_resumable

    was = study_dict(tmp_path)
    was["proxy"] = {**was["proxy"], "advanced": {"bn_recalibration": 2048}}
    study = open_study(config_from_dict(was))
    stored = study.user_attrs[R.STUDY_CONFIG]
    now = study_dict(tmp_path)
    now["proxy"] = {k: v for k, v in now["proxy"].items() if k != "advanced"}
    assert config_from_dict(now).proxy.advanced.bn_recalibration == 512
    with pytest.raises(ConfigError, match=r"proxy\.advanced\.bn_recalibration: 2048 in the stored study, 512 now"):
        check_resumable(config_from_dict(now))
    again = optuna.load_study(study_name=study.study_name, storage=config_from_dict(was).storage_url)
    assert again.user_attrs[R.STUDY_CONFIG] == stored and json.loads(stored)["proxy"]["advanced"]["bn_recalibration"] == 2048
    assert check_resumable(config_from_dict(was))


def test_a_study_stored_before_the_proxy_settings_moved_under_advanced_resumes(tmp_path: Path) -> None:
    """A study stored with every proxy setting at the top (`migrate_proxy_advanced` moves them)
    resumes under the same settings written the new way, and a changed one is still refused."""
    import json

    import pytest

    from kdnas.errors import ConfigError
    from kdnas.study import records as R
    from kdnas.study.storage import check_resumable

    d = study_dict(tmp_path)
    d["proxy"] = {**d["proxy"], "method": "blockwise", "advanced": {"score": "val_loss", "momentum": 0.8},
                  "blockwise": {"steps": 3, "advanced": {"val_samples": 32}}}
    study = open_study(config_from_dict(d))
    study.set_user_attr(R.STUDY_CONFIG, json.dumps(_as_version_1(json.loads(study.user_attrs[R.STUDY_CONFIG]))))
    assert "momentum" in json.loads(study.user_attrs[R.STUDY_CONFIG])["proxy"]
    assert check_resumable(config_from_dict(d))
    d["proxy"]["blockwise"] = {"steps": 3, "advanced": {"val_samples": 64}}
    with pytest.raises(ConfigError, match="different config"):
        check_resumable(config_from_dict(d))
