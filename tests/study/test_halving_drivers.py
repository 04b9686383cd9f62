"""Successive halving with real `kdnas search` processes: a driver killed with SIGKILL mid-rung
resumes with the same rungs, and two drivers on one SQLite file share the rungs (no student
promoted twice, no rung trained twice)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from kdnas.study import records as R
from kdnas.study.budget import was_trained

from tests.study.test_halving_search import check_rungs
from tests.studykit import write_study

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
RUNGS = [20, 40, 80, 160]  # min_steps 20, eta 2: a promotion as soon as two students finished a rung


def _config(tmp: Path, teacher_ckpt: Path, **over) -> Path:
    return write_study(tmp, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)},
                       proxy={"method": "kd", "steps": 160, "batch_size": 64, "optimizer": "sgd", "lr": 0.05},
                       sampler={"name": "random"}, budget={"trials": 2},
                       search={"strategy": "halving", "min_steps": 20, "eta": 2}, **over)


def _trials(tmp: Path) -> list[optuna.trial.FrozenTrial]:
    try:
        return optuna.load_study(study_name="tiny-study", storage=f"sqlite:///{tmp / 'study.db'}").get_trials()
    except Exception:  # noqa: BLE001 - not created yet
        return []


def _search(path: Path, tmp: Path) -> subprocess.Popen:
    env = {**os.environ, "KDNAS_RUNS": str(tmp / "runs"), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "kdnas.cli", "search", str(path), "--no-progress",
                             "--reports", str(tmp / "reports")], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_driver_killed_mid_rung_resumes_with_the_same_rungs(tmp_path: Path, teacher_ckpt: Path) -> None:
    path = _config(tmp_path, teacher_ckpt)
    proc = _search(path, tmp_path)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:  # until a promoted student is being trained
        running = [t for t in _trials(tmp_path) if t.state == TrialState.RUNNING and t.user_attrs.get(R.RUNG, 0) > 0]
        if running:
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    else:
        proc.kill()
        pytest.fail("no promotion was ever running")
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    before = {t.number: t for t in _trials(tmp_path)}
    orphans = [t for t in before.values() if t.state == TrialState.RUNNING]
    assert orphans and any(t.user_attrs.get(R.RUNG, 0) > 0 for t in orphans)

    rerun = _search(path, tmp_path)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert "re-queued" in out
    trials = _trials(tmp_path)
    check_rungs(trials, 2 * 160, RUNGS)
    for orphan in orphans:
        assert trials[orphan.number].state == TrialState.FAIL
        retry = [t for t in trials if t.user_attrs.get(R.RETRY_OF) == orphan.number]
        if R.ARCH in orphan.user_attrs and orphan.params:  # a sampled orphan is tried again, at its rung
            assert len(retry) == 1
            for key in (R.ARCH, R.RUNG, R.RUNG_STEPS, R.STUDENT):
                assert retry[0].user_attrs.get(key) == orphan.user_attrs.get(key), key
            assert was_trained(retry[0])
    for number, t in before.items():  # what was finished before the kill is left as it was
        if t.state == TrialState.COMPLETE:
            assert trials[number].user_attrs == t.user_attrs


def test_two_drivers_on_one_sqlite_file_share_the_rungs(tmp_path: Path, teacher_ckpt: Path) -> None:
    path = _config(tmp_path, teacher_ckpt, storage_heartbeat_s=2)
    first = _search(path, tmp_path)
    time.sleep(0.2)  # both create-or-load the study (a race the storage settles); they overlap from then on
    second = _search(path, tmp_path)
    for proc in (first, second):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    trials = _trials(tmp_path)
    check_rungs(trials, 2 * 160, RUNGS, drivers=2)
    pids = {t.user_attrs[R.WHERE]["pid"] for t in trials if t.user_attrs.get(R.STATUS) == R.STATUS_OK}
    assert len(pids) == 2  # both drivers trained students
    promoted = [(t.user_attrs[R.PROMOTED_FROM]) for t in trials
                if t.user_attrs.get(R.RUNG, 0) > 0 and was_trained(t)]
    assert len(promoted) == len(set(promoted)) >= 1  # no student promoted twice from one rung
    assert all(t.state != TrialState.RUNNING for t in trials)


@pytest.mark.ray
def test_halving_runs_unchanged_on_the_ray_executor(tmp_path: Path, teacher_ckpt: Path, ray_cluster: str) -> None:
    pytest.importorskip("ray")
    from kdnas.execute import make_executor
    from kdnas.study.runner import run_search
    from kdnas.study.search import load_and_prepare

    path = _config(tmp_path, teacher_ckpt, executor={"kind": "ray", "ray_address": ray_cluster, "max_concurrent": 2})
    setup = load_and_prepare(path, verbose=False)
    run_search(setup, make_executor(setup.cfg.executor), progress=False)
    trials = _trials(tmp_path)
    check_rungs(trials, 2 * 160, RUNGS, drivers=2)  # two trials at once: one may start as the last place goes
    assert any(t.user_attrs.get(R.RUNG, 0) > 0 and t.user_attrs.get(R.STATUS) == R.STATUS_OK for t in trials)
    assert all(t.user_attrs[R.WHERE].get("executor") == "ray" for t in trials if was_trained(t))
