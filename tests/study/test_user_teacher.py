"""The quickstart's teacher: any `module:function` model, with no `feature_modules` named. A kd search
needs only its logits, so it runs; a proxy that compares stage features says, in one line, what to name."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from tests.studykit import write_study
from tests.test_cli import assert_user_error, kdnas

MODULE = textwrap.dedent(
    """
    from torch import nn

    def make_net(num_classes, in_channels=3):
        # a plain Sequential: no feature_modules attribute, as most users' models
        return nn.Sequential(
            nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes),
        )
    """
)


def _kdnas(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    # the command as a user runs it, with the user's module importable
    return kdnas(*args, cwd=cwd, env={"PYTHONPATH": os.pathsep.join([str(cwd), str(Path(__file__).parents[2])])})


def _user_teacher(tmp_path: Path) -> dict:
    (tmp_path / "userteacher.py").write_text(MODULE)
    sys.path.insert(0, str(tmp_path))
    try:
        from userteacher import make_net  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
    torch.save(make_net(10, 1).state_dict(), tmp_path / "teacher.pt")
    return {"name": "userteacher:make_net", "checkpoint": str(tmp_path / "teacher.pt")}


def test_a_kd_search_runs_with_a_teacher_that_names_no_stage_modules(tmp_path: Path) -> None:
    path = write_study(tmp_path, teacher=_user_teacher(tmp_path), budget={"trials": 2})
    proc = _kdnas("search", str(path), "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "front:" in proc.stdout and "userteacher:make_net" in proc.stdout


@pytest.mark.parametrize("proxy", [{"method": "hint", "steps": 15}, {"method": "blockwise", "steps": 15}])
def test_a_proxy_that_reads_stages_says_which_setting_names_them(tmp_path: Path, proxy: dict) -> None:
    path = write_study(tmp_path, teacher=_user_teacher(tmp_path), proxy=proxy)
    assert_user_error(_kdnas("search", str(path), cwd=tmp_path), "feature_modules")
    assert not (tmp_path / "study.db").exists()  # refused before anything was stored
