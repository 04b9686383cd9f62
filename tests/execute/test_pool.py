"""The local executor with several workers per device: real spawned processes, no mocks."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import optuna
import pytest

from kdnas.cli import main
from kdnas.execute import Executor, TrialTask, make_executor
from kdnas.execute.pool import LocalPool, worker_devices
from kdnas.study import records as R
from kdnas.study.config import ExecutorConfig

from tests.studykit import write_study


def _collect(ex: Executor, want: int, guard_s: float = 300) -> dict:
    out: dict = {}
    deadline = time.monotonic() + guard_s  # against a hang, not a speed test
    while len(out) < want and time.monotonic() < deadline:
        out.update({o.number: o for o in ex.wait(timeout=1)})
    return out


def test_workers_get_their_device_strings_round_robin():
    assert worker_devices("cuda", 2, cuda_count=2) == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert worker_devices("cuda", 3, cuda_count=1) == ["cuda:0"] * 3
    assert worker_devices("cuda:1", 2, cuda_count=2) == ["cuda:1", "cuda:1"]  # a named GPU takes them all
    assert worker_devices("cpu", 4, cuda_count=0) == ["cpu"] * 4
    with pytest.raises(ValueError, match="no visible GPU"):
        worker_devices("cuda", 2, cuda_count=0)


def test_the_config_picks_the_pool_and_keeps_one_worker_in_process():
    assert type(make_executor(ExecutorConfig())).__name__ == "LocalExecutor"  # the demo's path, unchanged
    pool = make_executor(ExecutorConfig(workers_per_device=3, advanced={"memory_fraction": 0.25}))
    assert isinstance(pool, LocalPool) and pool.workers_per_device == 3 and pool.memory_fraction == 0.25
    with pytest.raises(ValueError, match="fractional gpus_per_trial"):
        ExecutorConfig(kind="ray", workers_per_device=2)


def test_two_workers_hold_the_data_once_and_a_dead_worker_fails_only_its_trial(make_ctx, arch_text):
    pool = LocalPool(2)
    pool.start(make_ctx(steps=20))
    try:
        assert pool.capacity == 2 and pool.devices == ["cpu", "cpu"]
        for n in range(2):
            pool.submit(TrialTask(n, arch_text, n))
        first = _collect(pool, 2)
        for n in range(2, 4):
            pool.submit(TrialTask(n, arch_text, n))
        out = {**first, **_collect(pool, 2)}
        assert sorted(out) == [0, 1, 2, 3] and all(o.ok for o in out.values()), [o.reason for o in out.values()]
        by_pid: dict[str, set[str]] = {}
        for o in out.values():
            assert o.where["executor"] == "local" and o.where["device"] == "cpu"
            by_pid.setdefault(o.where["pid"], set()).add(o.where["data_ptr"])
        assert len(by_pid) == 2 and str(os.getpid()) not in by_pid  # two worker processes, not this one
        assert all(len(ptrs) == 1 for ptrs in by_pid.values())  # each read one resident copy, trial after trial

        pids = pool.pids()
        pool.submit(TrialTask(4, arch_text, 4))
        busy = next(w for w in pool._workers if w.task is not None)
        os.kill(busy.process.pid, signal.SIGKILL)  # at once: the trial cannot have finished
        (dead,) = _collect(pool, 1).values()
        assert dead.number == 4 and not dead.ok and dead.reason == "worker died (exit code -9)"
        assert pool.capacity == 2 and pool.pids() != pids  # replaced
        pool.submit(TrialTask(5, arch_text, 5))
        busy = next(w for w in pool._workers if w.task is not None)
        os.kill(busy.process.pid, signal.SIGINT)  # Ctrl-C in a terminal: the driver decides, the worker goes on
        (after,) = _collect(pool, 1).values()
        assert after.ok, after.reason
    finally:
        pool.shutdown()
    pool.shutdown()  # safe twice


def test_a_search_with_two_workers_per_device(tmp_path: Path, teacher_ckpt: Path):
    # the study file asks for one worker; the command line's override gives two
    path = write_study(tmp_path, device="cpu", teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)},
                       budget={"trials": 4})
    assert main(["search", str(path), "--workers-per-device", "2", "--no-progress",
                 "--reports", str(tmp_path / "reports")]) == 0
    study = optuna.load_study(study_name="tiny-study", storage=f"sqlite:///{tmp_path / 'study.db'}")
    where = [t.user_attrs[R.WHERE] for t in study.trials if R.WHERE in t.user_attrs]
    assert len(where) == 4 and all(w["executor"] == "local" and w["device"] == "cpu" for w in where)
    assert {w["worker"] for w in where} == {"0", "1"} and len({w["pid"] for w in where}) == 2
