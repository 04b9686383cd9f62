"""Stored configs carry a schema version; older ones are migrated, and a study stored by an older
kdnas (tests/study/data/fx-v1.db) resumes and reports."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import optuna
import pytest
import yaml

from kdnas.execute import LocalExecutor
from kdnas.study import records as R
from kdnas.study.config import config_from_dict
from kdnas.study.runner import run_search
from kdnas.study.schema import MIGRATIONS_1_TO_2, SCHEMA_VERSION, migrate, objectives_accuracy_to_score
from kdnas.study.setup import prepare
from kdnas.study.storage import check_resumable

DATA = Path(__file__).parent / "data"
V1 = {"name": "s", "objectives": ["accuracy", "macs"],
      "proxy": {"method": "kd", "steps": 5, "blockwise": {"n_students": 4}}}


def test_objectives_accuracy_becomes_score_and_says_so() -> None:
    before = copy.deepcopy(V1)
    out, note = objectives_accuracy_to_score(V1)
    assert out["objectives"] == ["score", "macs"] and note == "objectives[0] accuracy -> score"
    assert V1 == before  # pure: the argument is left alone
    again, note = objectives_accuracy_to_score(out)
    assert again == out and note is None  # nothing to do on a config already upgraded


def test_a_version_1_config_is_migrated_in_order_with_a_line_per_change() -> None:
    out, notes = migrate(V1)
    assert out["schema_version"] == SCHEMA_VERSION == 5
    assert out["objectives"] == ["score", "macs"]
    # fields added after studies were stored without them, filled with how those studies ran, then
    # moved (version 3) under their section's `advanced`
    assert out["proxy"]["advanced"] == {"bn_recalibration": 0, "score": "accuracy"}
    assert out["proxy"]["blockwise"]["advanced"] == {"score": "loss"}
    assert "score" not in out["proxy"] and "score" not in out["proxy"]["blockwise"]
    assert notes == ["proxy.bn_recalibration absent -> 0", "proxy.score absent -> accuracy",
                     "proxy.blockwise.score absent -> loss", "objectives[0] accuracy -> score",
                     "moved proxy.score, proxy.bn_recalibration, proxy.blockwise.score under their section's 'advanced'",
                     "search absent -> {'strategy': 'plain', 'min_steps': 30, 'eta': 3}",
                     "search.screen absent -> none"]
    assert "schema_version" not in V1
    assert migrate(out) == (out, [])  # a current config is left as it is
    assert migrate({}) == ({}, [])  # a study made without kdnas has no config to migrate
    assert all(callable(step) for step in MIGRATIONS_1_TO_2)


def test_a_version_3_study_reads_as_the_plain_strategy() -> None:
    from kdnas.study.schema import MIGRATIONS_3_TO_4

    v3 = {"name": "s", "schema_version": 3, "objectives": ["score", "macs"], "proxy": {"method": "kd", "steps": 5}}
    out, notes = migrate(v3)
    assert out["search"] == {"strategy": "plain", "min_steps": 30, "eta": 3, "screen": "none"}
    assert notes == ["search absent -> {'strategy': 'plain', 'min_steps': 30, 'eta': 3}", "search.screen absent -> none"]
    assert "search" not in v3  # pure
    # the filled section is exactly what today's default resolves to, so such a study resumes
    from kdnas.study.config import SearchConfig

    assert out["search"] == SearchConfig().model_dump(mode="json")
    halving = {**v3, "schema_version": 5, "search": {"strategy": "halving", "min_steps": 10, "eta": 2, "screen": "none"}}
    assert migrate(halving) == (halving, [])  # a stored search section is left as it is
    assert len(MIGRATIONS_3_TO_4) >= 1


def test_a_version_4_halving_study_reads_as_unscreened() -> None:
    from kdnas.study.config import SearchConfig
    from kdnas.study.schema import MIGRATIONS_4_TO_5

    search = {"strategy": "halving", "min_steps": 10, "eta": 2}
    v4 = {"name": "s", "schema_version": 4, "objectives": ["score", "macs"], "proxy": {"method": "kd", "steps": 5},
          "search": search}
    out, notes = migrate(v4)
    # every sampled student of a version-4 study entered the first KD rung: no screen
    assert out["search"] == {**search, "screen": "none"} and notes == ["search.screen absent -> none"]
    assert out["schema_version"] == 5 and v4["search"] == search  # pure
    assert out["search"] == SearchConfig(strategy="halving", min_steps=10, eta=2).model_dump(mode="json")  # resumes
    assert len(MIGRATIONS_4_TO_5) == 1


def _fixture(tmp: Path, teacher_ckpt: Path, monkeypatch: pytest.MonkeyPatch, **over) -> dict:
    """The stored study and its files in `tmp` (its paths are relative: run from there)."""
    for name in ("fx-v1.db", "fx-space.yaml"):
        shutil.copy(DATA / name, tmp / name)
    shutil.copy(teacher_ckpt, tmp / "teacher.pt")
    monkeypatch.chdir(tmp)
    d = yaml.safe_load((DATA / "fx-v1.yaml").read_text())
    return d | {"storage": f"sqlite:///{tmp / 'fx-v1.db'}"} | over


def test_a_study_stored_by_an_older_kdnas_reports_and_resumes(
        tmp_path: Path, teacher_ckpt: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from kdnas.report import build_report

    d = _fixture(tmp_path, teacher_ckpt, monkeypatch, budget={"trials": 3})
    url = d["storage"]
    raw = optuna.load_study(study_name="fx-v1", storage=url).user_attrs[R.STUDY_CONFIG]
    assert "schema_version" not in json.loads(raw)

    report = build_report([optuna.load_study(study_name="fx-v1", storage=url)], tmp_path / "reports")
    assert report.views[0].objectives == ["score", "macs"]
    assert report.headlines[0].counts.line() == "6 sampled: 2 trained, 2 ok, 2 infeasible, 2 duplicate"
    assert optuna.load_study(study_name="fx-v1", storage=url).user_attrs[R.STUDY_CONFIG] == raw  # reading writes nothing

    cfg = config_from_dict(d)
    assert check_resumable(cfg)
    summary = run_search(prepare(cfg, verbose=False), LocalExecutor(), progress=False)
    err = capsys.readouterr().err
    assert "kdnas: study fx-v1 was stored by an older kdnas: objectives[0] accuracy -> score" in err
    assert summary.trained == 3 and summary.evaluated_now == 1  # the two trained before count
    study = optuna.load_study(study_name="fx-v1", storage=url)
    stored = json.loads(study.user_attrs[R.STUDY_CONFIG])
    assert stored["schema_version"] == SCHEMA_VERSION and stored["objectives"] == ["score", "macs"]
    assert study.metric_names == ["score", "macs"]
    assert [t.user_attrs[R.STATUS] for t in study.trials[:6]] == ["infeasible", "ok", "infeasible", "duplicate", "ok",
                                                                 "duplicate"]

    again = run_search(prepare(config_from_dict(d), verbose=False), LocalExecutor(), progress=False)
    assert again.evaluated_now == 0 and "older kdnas" not in capsys.readouterr().err  # migrated once


def test_a_stored_study_that_does_not_match_is_refused_and_left_as_stored(
        tmp_path: Path, teacher_ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kdnas.errors import ConfigError

    d = _fixture(tmp_path, teacher_ckpt, monkeypatch)
    d["proxy"] = {**d["proxy"], "steps": 6}
    with pytest.raises(ConfigError, match=r"proxy\.steps: 5 in the stored study, 6 now"):
        check_resumable(config_from_dict(d))
    from kdnas.study.storage import open_study

    with pytest.raises(ConfigError):
        open_study(config_from_dict(d))
    study = optuna.load_study(study_name="fx-v1", storage=d["storage"])
    raw = json.loads(study.user_attrs[R.STUDY_CONFIG])
    assert "schema_version" not in raw and raw["objectives"] == ["accuracy", "macs"]
    assert study.metric_names is None  # nothing written, not even the names
