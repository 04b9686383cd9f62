"""The Ray executor on one local Ray with fake GPUs: placement, packing, retries, cancel."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from kdnas.execute import Executor, TrialTask, make_executor  # noqa: E402
from kdnas.execute.ray_executor import PID_DIR_ENV, RayExecutor  # noqa: E402

pytestmark = pytest.mark.ray


def _run_all(ex: RayExecutor, tasks: list[TrialTask]) -> dict:
    for t in tasks:
        ex.submit(t)
    out = {}
    deadline = time.monotonic() + 400  # a guard against a hang, not a speed test: CI machines are slow and shared
    while ex.outstanding and time.monotonic() < deadline:
        out.update({o.number: o for o in ex.wait(timeout=1)})
    return out


def _overlap(a, b) -> bool:
    return a.metrics["started_at"] < b.metrics["finished_at"] and b.metrics["started_at"] < a.metrics["finished_at"]


def test_capacity_follows_resources_and_fractions_pack():
    fit = RayExecutor(gpus_per_trial=0.5)._fit
    assert fit({"CPU": 8, "GPU": 1}) == 2  # two students share the one GPU
    assert RayExecutor(gpus_per_trial=0.25)._fit({"CPU": 8, "GPU": 1}) == 4
    assert RayExecutor(gpus_per_trial=1)._fit({"CPU": 8, "GPU": 2}) == 2
    assert RayExecutor(cpus_per_trial=2)._fit({"CPU": 5}) == 2
    assert RayExecutor(max_concurrent=1)._fit({"CPU": 8}) == 1
    assert RayExecutor(cpus_per_trial=1, gpus_per_trial=1)._fit({"CPU": 1, "GPU": 4}) == 1


def test_concurrent_trials_see_distinct_gpus(ray_cluster, make_ctx, arch_text, monkeypatch):
    puts = []
    real_put = ray.put
    monkeypatch.setattr(ray, "put", lambda v, **kw: puts.append(1) or real_put(v, **kw))
    ex = make_executor("ray")
    assert isinstance(ex, Executor)
    ex = RayExecutor(gpus_per_trial=1, cpus_per_trial=1)
    ex.start(make_ctx(steps=300))
    assert ex.capacity == 2
    out = _run_all(ex, [TrialTask(i, arch_text, i) for i in range(4)])
    ex.shutdown()
    assert len(puts) == 1  # the context went to the object store once, not once per trial
    assert sorted(out) == [0, 1, 2, 3] and all(o.ok for o in out.values())
    for o in out.values():
        assert o.where["executor"] == "ray" and o.where["node_id"] and o.where["node_ip"]
        assert o.where["cuda_visible_devices"] == o.where["gpu_ids"] and o.where["gpu_ids"] in {"0", "1"}
        assert o.metrics["queue_s"] >= 0 and o.metrics["run_s"] > 0 and o.metrics["threads"] == 1
    pairs = [(a, b) for a in out.values() for b in out.values() if a.number < b.number and _overlap(a, b)]
    assert pairs, "no two trials ran at the same time"
    assert all(a.where["cuda_visible_devices"] != b.where["cuda_visible_devices"] for a, b in pairs)


def test_half_gpu_trials_pack_two_per_gpu(ray_cluster, make_ctx, arch_text):
    ex = RayExecutor(gpus_per_trial=0.5, cpus_per_trial=1)
    ex.start(make_ctx(steps=400))
    assert ex.capacity == 4  # 2 fake GPUs / 0.5, and 4 CPUs / 1
    out = _run_all(ex, [TrialTask(i, arch_text, i) for i in range(4)])
    ex.shutdown()
    assert all(o.ok for o in out.values())
    devices = sorted(o.where["cuda_visible_devices"] for o in out.values())
    assert devices == ["0", "0", "1", "1"]  # 4 students on 2 GPUs, two each
    overlapping = [(a, b) for a in out.values() for b in out.values() if a.number < b.number and _overlap(a, b)]
    assert any(a.where["cuda_visible_devices"] == b.where["cuda_visible_devices"] for a, b in overlapping)


def test_cpu_only_trials_see_no_gpu(ray_cluster, make_ctx, arch_text):
    ex = RayExecutor(gpus_per_trial=0, cpus_per_trial=2)
    ex.start(make_ctx(steps=5))
    assert ex.capacity == 2
    out = _run_all(ex, [TrialTask(0, arch_text, 0)])
    ex.shutdown()
    assert out[0].ok and out[0].where["cuda_visible_devices"] == "" and out[0].where["gpu_ids"] == ""
    assert out[0].metrics["threads"] == 2


def test_more_gpus_than_the_cluster_has_is_a_user_error(ray_cluster, make_ctx):
    from kdnas.errors import UserError

    with pytest.raises(UserError, match="GPU"):
        RayExecutor(gpus_per_trial=3).start(make_ctx())


def _killer(pid_dir: Path, should_kill, stop: threading.Event) -> None:
    """Kill each trial's worker process (SIGKILL) as soon as it records its pid, when asked to."""
    seen = set()
    while not stop.is_set():
        for f in pid_dir.glob("*.pid"):
            if f.name in seen or not f.read_text():
                continue
            seen.add(f.name)
            number, attempt = (int(v) for v in f.name.split(".")[:2])
            if should_kill(number, attempt):
                os.kill(int(f.read_text()), signal.SIGKILL)
        time.sleep(0.005)


def test_killed_worker_is_retried_then_recorded_failed(ray_cluster, make_ctx, arch_text, tmp_path, monkeypatch):
    monkeypatch.setenv(PID_DIR_ENV, str(tmp_path))
    stop = threading.Event()
    # trial 0: killed once, then succeeds; trial 1: killed every time; trial 2: left alone
    kill = threading.Thread(target=_killer, args=(tmp_path, lambda n, a: n == 1 or (n == 0 and a == 0), stop))
    kill.start()
    try:
        ex = RayExecutor(max_retries=1, max_concurrent=2)
        ex.start(make_ctx(steps=400))
        out = _run_all(ex, [TrialTask(i, arch_text, i) for i in range(3)])
        ex.shutdown()
    finally:
        stop.set()
        kill.join()
    assert out[0].ok and out[0].where["attempt"] == "1"
    assert not out[1].ok and out[1].reason.startswith("worker died (2 attempt(s))")
    assert out[2].ok and out[2].where["attempt"] == "0"
    assert sorted(p.name for p in tmp_path.glob("1.*.pid")) == ["1.0.pid", "1.1.pid"]  # bounded: no third try


def test_cancel_fails_outstanding_trials_as_cancelled(ray_cluster, make_ctx, arch_text, tmp_path, monkeypatch):
    monkeypatch.setenv(PID_DIR_ENV, str(tmp_path))
    ex = RayExecutor(max_concurrent=2)
    ex.start(make_ctx(steps=20000))
    ex.submit(TrialTask(0, arch_text, 0))
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob("0.*.pid")) and time.monotonic() < deadline:
        time.sleep(0.05)
    ex.cancel()
    out = []
    while ex.outstanding and time.monotonic() < deadline:
        out += ex.wait(timeout=1)
    ex.shutdown()
    assert [(o.number, o.ok) for o in out] == [(0, False)] and out[0].reason.startswith("cancelled")


@ray.remote(num_cpus=1)
def _look(packed):
    """What a Ray task sees of the executor's packed context, and where its resident copy lives."""
    from kdnas.execute.resident import landed

    arr = packed.arrays["x_train"]
    return os.getpid(), arr.flags.writeable, arr.ctypes.data, landed(packed, "cpu").x_train.data_ptr()


def test_the_context_reaches_workers_as_numpy_without_a_copy_per_task(ray_cluster, make_ctx):
    ex = RayExecutor(cpus_per_trial=1)
    ex.start(make_ctx())
    try:
        seen = [ray.get(_look.remote(ex._ctx_ref)) for _ in range(4)]  # one after the other: a worker is reused
    finally:
        ex.shutdown()
    by_pid: dict[int, set[int]] = {}
    for pid, writeable, addr, resident in seen:
        assert not writeable  # a read-only view of the object store, not a deserialised copy
        assert resident == addr  # on the CPU the resident training split is that very buffer
        by_pid.setdefault(pid, set()).add(addr)
    assert any(len([s for s in seen if s[0] == pid]) > 1 for pid in by_pid)  # some worker ran two tasks
    assert all(len(addrs) == 1 for addrs in by_pid.values())  # ... and read the same buffer both times
