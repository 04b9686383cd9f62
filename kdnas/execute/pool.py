"""The local executor with several students per device: `executor.workers_per_device` worker
processes on each device, each pinned to its device string and holding the study's data there.

A short proxy run (about a hundred steps of batch 64) leaves a GPU mostly idle between its small
kernels, so several students trained at once on one GPU finish more trials per hour than one at a
time. Each worker is a spawned process (CUDA cannot be forked) that receives the packed context
once (numpy arrays, `kdnas.execute.resident`), moves it to its device once, then evaluates the
trials it is handed one after the other. Faults stay with their trial: an out-of-memory error is a
failed outcome from `evaluate` (the worker goes on), and a worker process that dies (killed, out of
host memory, a crash in a kernel) fails the trial it held with the reason and is replaced.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from multiprocessing import connection
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from kdnas.execute.base import Executor
from kdnas.execute.resident import PackedContext, landed, pack
from kdnas.execute.task import ProxyContext, TrialOutcome, TrialTask, evaluate

_STOP_S = 10.0  # how long `shutdown` lets a worker finish before it is terminated


def worker_devices(device: str, workers_per_device: int, cuda_count: int) -> list[str]:
    """The device string of each worker: `workers_per_device` per device. ``cuda`` spreads them
    round-robin over the `cuda_count` visible GPUs (``cuda:0``, ``cuda:1``, ``cuda:0``, ...); a
    named GPU (``cuda:N``), ``cpu`` or ``mps`` gets them all."""
    if device == "cuda":
        if cuda_count < 1:
            raise ValueError("device 'cuda' with no visible GPU")
        return [f"cuda:{k % cuda_count}" for k in range(workers_per_device * cuda_count)]
    return [device] * workers_per_device


def _serve(packed: PackedContext, device: str, memory_fraction: float | None, conn: Connection, slot: int) -> None:
    """A worker process: pin to `device`, hold the context there, evaluate tasks until told to stop."""
    import torch

    # Ctrl-C reaches the whole process group: the driver decides whether running trials finish or
    # are cancelled (`executor.cancel_running_on_interrupt`), so a worker must not die of it
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    if device.startswith("cuda"):
        torch.cuda.set_device(device)
        if memory_fraction is not None:  # this worker's share: its out-of-memory error is its own
            torch.cuda.set_per_process_memory_fraction(memory_fraction, torch.device(device))
    ctx = landed(packed, device)
    while True:
        task = conn.recv()
        if task is None:
            return
        out = evaluate(task, ctx)
        conn.send(replace(out, where={**out.where, "executor": "local", "worker": str(slot)}))


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while a worker is started: the child inherits that (across exec too), so a
    Ctrl-C while it is still importing does not kill it either (the main thread only: elsewhere
    Python cannot set handlers, and the worker ignores it once running)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection  # this worker's own pipe: a worker that dies mid-send blocks no other
    device: str
    task: TrialTask | None = None


class LocalPool(Executor):
    """`workers_per_device` worker processes per device on this machine (module doc); the outcomes
    of the trials are those `LocalExecutor` gives, computed `capacity` at a time."""

    name = "local"

    def __init__(self, workers_per_device: int, *, memory_fraction: float | None = None) -> None:
        if workers_per_device < 1:
            raise ValueError("workers_per_device must be at least 1")
        self.workers_per_device = workers_per_device
        self.memory_fraction = memory_fraction
        self._mp = mp.get_context("spawn")
        self._packed: PackedContext | None = None
        self._workers: list[_Worker] = []
        self._ready: list[TrialOutcome] = []  # cancelled trials, handed back by the next `wait`

    @classmethod
    def from_config(cls, cfg: object) -> LocalPool:
        """From a study's `executor` section (`ExecutorConfig`)."""
        return cls(cfg.workers_per_device, memory_fraction=cfg.advanced.memory_fraction)  # type: ignore[attr-defined]

    @property
    def capacity(self) -> int:
        return max(1, len(self._workers))

    @property
    def outstanding(self) -> int:
        return sum(w.task is not None for w in self._workers) + len(self._ready)

    @property
    def devices(self) -> list[str]:
        """Each worker's device string, by worker slot."""
        return [w.device for w in self._workers]

    def pids(self) -> list[int | None]:
        """Each worker's process id, by slot."""
        return [w.process.pid for w in self._workers]

    def start(self, ctx: ProxyContext) -> None:
        import torch

        count = torch.cuda.device_count() if ctx.device == "cuda" else 0
        self._packed = pack(ctx)  # the spawned workers receive numpy arrays, once each
        self._workers = [self._spawn(slot, device) for slot, device in
                         enumerate(worker_devices(ctx.device, self.workers_per_device, count))]

    def _spawn(self, slot: int, device: str) -> _Worker:
        mine, theirs = self._mp.Pipe()
        proc = self._mp.Process(target=_serve, args=(self._packed, device, self.memory_fraction, theirs, slot),
                                name=f"kdnas-worker-{slot}", daemon=True)
        with _sigint_ignored():
            proc.start()
        theirs.close()  # the worker's end lives in the worker: its death closes the pipe
        return _Worker(proc, mine, device)

    def submit(self, task: TrialTask) -> None:
        if self._packed is None:
            raise RuntimeError("LocalPool.start(ctx) must be called before submit")
        free = next((w for w in self._workers if w.task is None), None)
        if free is None:
            raise RuntimeError(f"all {self.capacity} workers are busy")
        free.task = task
        free.conn.send(task)

    def wait(self, timeout: float | None = None) -> list[TrialOutcome]:
        if self._ready:
            done, self._ready = self._ready, []
            return done
        busy = [(slot, w) for slot, w in enumerate(self._workers) if w.task is not None]
        if not busy:
            return []
        ready = set(connection.wait([w.conn for _, w in busy] + [w.process.sentinel for _, w in busy], timeout))
        done = []
        for slot, w in busy:
            if w.conn in ready or w.process.sentinel in ready:
                out = self._receive(slot, w)
                if out is not None:
                    done.append(out)
        return done

    def _receive(self, slot: int, w: _Worker) -> TrialOutcome | None:
        """The outcome `w` sent, or, when it died without one, a failed outcome and a new worker in
        its place."""
        try:
            if w.conn.poll():
                out = w.conn.recv()
                w.task = None
                return out
        except (EOFError, OSError):
            pass  # the pipe closed: the worker is gone
        if w.process.is_alive():
            return None
        w.process.join()
        out = self._failed(w, f"worker died (exit code {w.process.exitcode})")
        self._workers[slot] = self._spawn(slot, w.device)
        return out

    def _failed(self, w: _Worker, reason: str) -> TrialOutcome:
        assert w.task is not None
        task, w.task = w.task, None
        return TrialOutcome(task.number, task.arch, False, reason=reason,
                            where={"executor": self.name, "worker": str(self._workers.index(w)), "device": w.device})

    def cancel(self) -> None:
        """Stop the busy workers: their trials come back failed as cancelled; fresh workers replace them."""
        for slot, w in enumerate(self._workers):
            if w.task is not None:
                w.process.terminate()
                w.process.join()
                self._ready.append(self._failed(w, "cancelled: the search was interrupted"))
                self._workers[slot] = self._spawn(slot, w.device)

    def shutdown(self) -> None:
        for w in self._workers:
            try:
                w.conn.send(None)
            except OSError:
                pass  # already gone
        for w in self._workers:
            w.process.join(_STOP_S)
            if w.process.is_alive():
                w.process.terminate()
                w.process.join()
            w.conn.close()
        self._workers = []
        self._packed = None


__all__ = ["LocalPool", "worker_devices"]
