"""One meaning of STUDY: every command takes a study's YAML file or its name in a storage."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from kdnas.cli import main
from kdnas.errors import UserError
from kdnas.study import records as R
from kdnas.study.ref import candidate_storages, resolve_study
from tests.studykit import study_dict, write_study
from tests.test_cli import assert_user_error, kdnas


def _store(url: str, name: str, cfg: dict) -> None:
    """A study as kdnas stores it (its config in the study's user attributes), in a real SQLite file."""
    study = optuna.create_study(storage=url, study_name=name, directions=["maximize", "minimize"])
    study.set_user_attr(R.STUDY_CONFIG, json.dumps(cfg))


def test_yaml_file_and_stored_name_give_the_same_config(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    url = f"sqlite:///{runs / 'kdnas.db'}"
    path = write_study(tmp_path, storage=url)
    from_file = resolve_study(str(path))
    _store(url, from_file.name, from_file.resolved())
    from_name = resolve_study("tiny-study")
    assert from_name.resolved() == from_file.resolved()
    assert from_name.storage_url == url


def test_name_is_looked_up_in_every_storage_of_the_runs_folder(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    other = f"sqlite:///{runs / 'other.db'}"
    _store(other, "tiny-study", study_dict(tmp_path, storage=other))
    assert other in candidate_storages()
    assert resolve_study("tiny-study").storage_url == other


def test_name_in_two_storages_is_refused(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    for db in ("a.db", "b.db"):
        url = f"sqlite:///{runs / db}"
        _store(url, "tiny-study", study_dict(tmp_path, storage=url))
    proc = kdnas("show", "tiny-study", cwd=tmp_path)
    assert_user_error(proc, "tiny-study", "2 storages", "--storage")
    assert kdnas("show", "tiny-study", "--storage", f"sqlite:///{runs / 'a.db'}", cwd=tmp_path).returncode == 0


def test_unknown_name_is_one_line_for_every_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["show", "nosuch"], ["report", "nosuch"], ["retrain", "nosuch", "--trial", "0"],
                 ["export", "nosuch", "--trial", "0"], ["teacher", "train", "nosuch"]):
        assert main(args) == 2, args  # in this process: the command's own answer, without a Python start each
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("kdnas: error: no study named 'nosuch'"), err
    assert not (tmp_path / "runs" / "kdnas.db").exists()  # looking a name up creates no storage
    assert_user_error(kdnas("search", "nosuch", cwd=tmp_path), "no study named 'nosuch'", "demo-digits")


def test_shipped_example_is_found_by_search_only() -> None:
    with pytest.raises(UserError, match="no study named 'demo-digits'"):
        resolve_study("demo-digits")
    assert resolve_study("demo-digits", allow_shipped=True).name == "demo-digits"


@pytest.mark.slow
def test_search_report_retrain_by_name(tmp_path: Path, teacher_ckpt: Path) -> None:
    """The whole cycle by name: the study lives in the runs folder's default storage."""
    path = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)},
                       budget={"trials": 2}, storage=None, retrain={"epochs": 1, "threads": 1})
    assert kdnas("search", str(path), "--no-progress", cwd=tmp_path).returncode == 0
    path.unlink()  # from here on, only the storage knows the study
    report = kdnas("report", "tiny-study", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    trial = next(t.number for t in optuna.load_study(study_name="tiny-study", storage=f"sqlite:///{tmp_path / 'runs' / 'kdnas.db'}").trials
                 if t.user_attrs.get(R.STATUS) == R.STATUS_OK)
    retrain = kdnas("retrain", "tiny-study", "--trial", str(trial), "--epochs", "1", cwd=tmp_path)
    assert retrain.returncode == 0, retrain.stderr
    assert f"trial {trial} [kd, seed 0]: test" in retrain.stdout
