"""Real processes killed mid-search: the driver (SIGKILL, SIGINT) running `kdnas search` on Ray.

The drivers join the session's Ray (`--ray-address`), so each run costs no Ray start-up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from kdnas.study import records as R
from kdnas.study.budget import was_trained

from tests.studykit import write_study

pytest.importorskip("ray")
pytestmark = [pytest.mark.ray, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def _study(tmp: Path) -> optuna.Study:
    return optuna.load_study(study_name="tiny-study", storage=f"sqlite:///{tmp / 'study.db'}")


def _counts(tmp: Path) -> Counter:
    if not (tmp / "study.db").exists():
        return Counter()
    try:
        return Counter(t.state for t in _study(tmp).get_trials(deepcopy=False))
    except Exception:  # noqa: BLE001 - not created yet
        return Counter()


def _search(path: Path, tmp: Path, address: str) -> list[str]:
    return [sys.executable, "-m", "kdnas.cli", "search", str(path), "--no-progress", "--reports", str(tmp / "reports"),
            "--ray-address", address, "--max-concurrent", "2"]


def _start_and_wait(cmd: list[str], tmp: Path, complete: int) -> subprocess.Popen:
    env = {**os.environ, "KDNAS_RUNS": str(tmp / "runs")}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        c = _counts(tmp)
        if c[TrialState.COMPLETE] >= complete and c[TrialState.RUNNING] >= 1:
            return proc
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the search never had trials running")


def _config(tmp: Path, teacher_ckpt: Path, trials: int) -> Path:
    return write_study(tmp, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)},
                       proxy={"method": "kd", "steps": 150, "batch_size": 64, "optimizer": "sgd", "lr": 0.05},
                       sampler={"name": "random"}, budget={"trials": trials})


def test_driver_sigkill_then_rerun_resumes_exactly(tmp_path, teacher_ckpt, ray_cluster):
    path = _config(tmp_path, teacher_ckpt, trials=6)
    cmd = _search(path, tmp_path, ray_cluster)
    proc = _start_and_wait(cmd, tmp_path, complete=2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    before = _study(tmp_path).get_trials(deepcopy=False)
    orphans = [t.number for t in before if t.state == TrialState.RUNNING]
    done_before = {t.number: t.user_attrs for t in before if t.state == TrialState.COMPLETE}
    assert orphans and len(done_before) >= 2

    rerun = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "KDNAS_RUNS": str(tmp_path / "runs")},
                           capture_output=True, text=True, timeout=240)
    assert rerun.returncode == 0, rerun.stderr
    assert "re-queued" in rerun.stdout

    trials = _study(tmp_path).get_trials(deepcopy=False)
    states = Counter(t.state for t in trials)
    assert sum(was_trained(t) for t in trials) == 6  # exactly the budget of trained students
    assert states[TrialState.RUNNING] == 0 and states[TrialState.WAITING] == 0
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert sorted(t.number for t in failed) == sorted(orphans)
    assert all("interrupted" in t.user_attrs[R.REASON] for t in failed)
    for t in trials:  # completed trials are untouched by the re-run
        if t.number in done_before:
            assert t.user_attrs == done_before[t.number]
    retries = {t.user_attrs[R.RETRY_OF]: t for t in trials if R.RETRY_OF in t.user_attrs}
    sampled = [n for n in orphans if R.ARCH in trials[n].user_attrs]  # killed mid-sampling: no arch to retry
    assert sorted(retries) == sorted(sampled)  # each sampled orphan re-queued once ...
    for number, retry in retries.items():  # ... with the same architecture
        assert retry.params == trials[number].params
    trained = Counter(t.user_attrs[R.ARCH] for t in trials if t.user_attrs.get(R.STATUS) == R.STATUS_OK)
    assert max(trained.values()) == 1  # no architecture trained twice


def test_driver_sigint_finishes_running_trials_and_says_how_to_resume(tmp_path, teacher_ckpt, ray_cluster):
    path = _config(tmp_path, teacher_ckpt, trials=8)
    cmd = _search(path, tmp_path, ray_cluster)
    proc = _start_and_wait(cmd, tmp_path, complete=1)
    running = [t.number for t in _study(tmp_path).get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "run the same command again" in err.lower()
    trials = _study(tmp_path).get_trials(deepcopy=False)
    states = Counter(t.state for t in trials)
    assert states[TrialState.RUNNING] == 0 and states[TrialState.FAIL] == 0  # consistent; nothing lost
    assert all(trials[n].state == TrialState.COMPLETE for n in running)  # the running ones finished
    assert sum(was_trained(t) for t in trials) < 8  # and no new ones started to fill the budget


def test_interrupt_with_cancel_requeues_running_trials(tmp_path, teacher_ckpt, ray_cluster, monkeypatch):
    from kdnas.execute import make_executor
    from kdnas.execute.ray_executor import PID_DIR_ENV
    from kdnas.study.runner import run_search
    from kdnas.study.search import load_and_prepare

    pids = tmp_path / "pids"
    pids.mkdir()
    monkeypatch.setenv(PID_DIR_ENV, str(pids))
    path = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)},
                       proxy={"method": "kd", "steps": 5000}, sampler={"name": "random"}, budget={"trials": 2},
                       executor={"kind": "ray", "max_concurrent": 2, "cancel_running_on_interrupt": True})
    setup = load_and_prepare(path, verbose=False)
    summary = run_search(setup, make_executor(setup.cfg.executor), progress=False,
                         should_stop=lambda: len(list(pids.glob("*.pid"))) >= 2)
    assert summary.stopped_by == "interrupted" and summary.failed_now == 0
    trials = _study(tmp_path).get_trials(deepcopy=False)
    cancelled = [t for t in trials if t.state == TrialState.FAIL]
    assert len(cancelled) == 2 and all(t.user_attrs[R.REASON].startswith("cancelled") for t in cancelled)
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    assert sorted(t.user_attrs[R.RETRY_OF] for t in waiting) == sorted(t.number for t in cancelled)
