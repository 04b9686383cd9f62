"""The device migration step: `executor.device` -> top-level `device`, and such a study resumes."""

from __future__ import annotations

import json
from pathlib import Path

from kdnas.study import records as R
from kdnas.study.config import config_from_dict
from kdnas.study.migrate_device import migrate_device
from kdnas.study.storage import check_resumable, open_study
from tests.studykit import study_dict


def test_moves_executor_device_to_the_top_level() -> None:
    old = {"name": "s", "executor": {"kind": "ray", "device": "cpu", "gpus_per_trial": 0}}
    new, line = migrate_device(old)
    assert new == {"name": "s", "device": "cpu", "executor": {"kind": "ray", "gpus_per_trial": 0}}
    assert line == "executor.device 'cpu' moved to the top-level device"
    assert old["executor"]["device"] == "cpu"  # pure: the stored dict is not changed


def test_nothing_to_do_without_executor_device() -> None:
    for cfg in ({"name": "s", "device": "auto", "executor": {"kind": "local"}}, {"name": "s"}):
        new, line = migrate_device(cfg)
        assert line is None and new == cfg and new is not cfg


def test_the_top_level_device_wins_over_a_leftover() -> None:
    new, line = migrate_device({"device": "cuda", "executor": {"device": "cpu"}})
    assert new == {"device": "cuda", "executor": {}} and "dropped executor.device 'cpu'" in line


def test_a_study_stored_with_executor_device_resumes(tmp_path: Path) -> None:
    study = open_study(config_from_dict(study_dict(tmp_path, device="cpu")))
    stored = json.loads(study.user_attrs[R.STUDY_CONFIG])
    stored["executor"]["device"] = stored.pop("device")  # as an earlier version stored it
    study.set_user_attr(R.STUDY_CONFIG, json.dumps(stored))
    assert migrate_device(stored)[0]["device"] == "cpu"
    assert check_resumable(config_from_dict(study_dict(tmp_path)))  # device: auto now, where cpu was stored
