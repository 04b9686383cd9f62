"""The Ray executor: each trial evaluation is a Ray task with its own CPU/GPU request.

The only module that imports ray. The driver keeps ask/tell; this class only evaluates.

- Shared inputs once: the `ProxyContext` (data tensors, cached teacher outputs) is `ray.put`
  once in `start`, packed as numpy arrays (`kdnas.execute.resident`): the object store hands
  numpy arrays to every task of a node without a copy (torch tensors it would copy per task).
  A worker process unpacks it and moves it to its device once (`landed`), and every later trial
  it runs reads that resident context.
- Resources: a task requests `num_gpus=gpus_per_trial` (fractions pack several students on one
  GPU) and `num_cpus=cpus_per_trial`; torch in the task uses that many threads. A task without
  GPUs gets `CUDA_VISIBLE_DEVICES=""`: Ray leaves it unset there, which would expose every GPU.
  The study's device agrees with this request (`kdnas.device.check_placement`, before the search:
  a CUDA device has GPUs per trial, a CPU one none), and each task checks it again where it runs.
- Faults: a task whose worker process died (killed, segfault, node lost) is submitted again up
  to `max_retries` times, then comes back as a failed outcome with the reason. `evaluate` itself
  never raises, so any Ray error is an infrastructure fault, not the student's.
- Where: node id and IP, Ray's GPU ids, `CUDA_VISIBLE_DEVICES`, the attempt, and how long the
  task queued before it started (`queue_s`) and ran (`run_s`).
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, replace

import ray
from ray.exceptions import RayError

from kdnas.device import resolve_device
from kdnas.errors import UserError
from kdnas.execute.base import Executor
from kdnas.execute.resident import PackedContext, landed, pack, unpack
from kdnas.execute.task import ProxyContext, TrialOutcome, TrialTask, evaluate

# A test hook: when set (to a folder), each attempt writes `<trial>.<attempt>.pid` there first, so a
# fault test can kill the worker process mid-trial. Forwarded to the tasks with the other KDNAS_*.
PID_DIR_ENV = "KDNAS_TEST_TRIAL_PIDS"
_CAPACITY_TTL_S = 10.0


def _remote_evaluate(task: TrialTask, packed: PackedContext, threads: int, cpu_only: bool, submitted_at: float,
                     attempt: int, env: dict[str, str]) -> TrialOutcome:
    started = time.time()
    os.environ.update(env)
    if cpu_only:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    pid_dir = os.environ.get(PID_DIR_ENV)
    if pid_dir:
        with open(os.path.join(pid_dir, f"{task.number}.{attempt}.pid"), "w") as f:
            f.write(str(os.getpid()))
    ctx = _resident(packed)
    ctx = replace(ctx, spec=ctx.spec.model_copy(update={"threads": threads}))
    out = evaluate(task, ctx)
    where = {
        **out.where, "executor": "ray", "node_id": ray.get_runtime_context().get_node_id(),
        "node_ip": ray.util.get_node_ip_address(), "gpu_ids": ",".join(str(g) for g in ray.get_gpu_ids()),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""), "attempt": str(attempt),
    }
    finished = time.time()
    metrics = {**out.metrics, "queue_s": max(0.0, started - submitted_at), "run_s": finished - started,
               "started_at": started, "finished_at": finished, "threads": float(threads), "attempt": float(attempt)}
    return replace(out, where=where, metrics=metrics)


def _resident(packed: PackedContext) -> ProxyContext:
    """The packed context resident on this worker's device, moved there by the first trial the
    worker process runs. A device this worker lacks is left to `evaluate`, which fails the trial."""
    try:
        return landed(packed, str(resolve_device(packed.frame.device)))
    except UserError:
        return unpack(packed)


_REMOTE = ray.remote(max_retries=0)(_remote_evaluate)  # retries are counted here, not by Ray


@dataclass
class _Job:
    task: TrialTask
    attempt: int
    cancelled: bool = False


class RayExecutor(Executor):
    """Trials as Ray tasks on a local Ray (started and stopped here) or on a cluster (`address`).

    When Ray is already initialised in this process (a notebook, the tests), that Ray is used
    and left running.
    """

    name = "ray"

    def __init__(self, *, gpus_per_trial: float = 0, cpus_per_trial: float = 1, address: str | None = None,
                 max_retries: int = 1, max_concurrent: int | None = None) -> None:
        self.gpus_per_trial = float(gpus_per_trial)
        self.cpus_per_trial = float(cpus_per_trial)
        self.address = address
        self.max_retries = max_retries
        self.max_concurrent = max_concurrent
        self._owns_ray = False
        self._ctx_ref: ray.ObjectRef | None = None
        self._jobs: dict[ray.ObjectRef, _Job] = {}
        self._capacity: tuple[float, int] | None = None  # (when measured, value)

    @classmethod
    def from_config(cls, cfg: object) -> RayExecutor:
        """From a study's `executor` section (`ExecutorConfig`)."""
        return cls(gpus_per_trial=cfg.gpus_per_trial, cpus_per_trial=cfg.cpus_per_trial,  # type: ignore[attr-defined]
                   address=cfg.ray_address, max_retries=cfg.max_retries,  # type: ignore[attr-defined]
                   max_concurrent=cfg.max_concurrent)  # type: ignore[attr-defined]

    @property
    def threads(self) -> int:
        """Torch threads of one trial: its CPU request, at least one."""
        return max(1, int(self.cpus_per_trial))

    @property
    def capacity(self) -> int:
        """Trials that fit at once in the cluster's resources (re-read every few seconds, so nodes
        that join a running search are used), capped by `max_concurrent`."""
        now = time.monotonic()
        if self._capacity is None or now - self._capacity[0] > _CAPACITY_TTL_S:
            self._capacity = (now, self._fit(ray.cluster_resources()))
        return self._capacity[1]

    def _fit(self, resources: dict[str, float]) -> int:
        fits = [math.floor(resources.get("CPU", 0.0) / self.cpus_per_trial + 1e-9)] if self.cpus_per_trial else []
        if self.gpus_per_trial:
            fits.append(math.floor(resources.get("GPU", 0.0) / self.gpus_per_trial + 1e-9))
        n = min(fits) if fits else 1
        if self.max_concurrent is not None:
            n = min(n, self.max_concurrent)
        return max(1, n)

    @property
    def outstanding(self) -> int:
        return len(self._jobs)

    def start(self, ctx: ProxyContext) -> None:
        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
            self._owns_ray = True
        res = ray.cluster_resources()
        if self.gpus_per_trial > res.get("GPU", 0.0):
            raise UserError(f"executor.gpus_per_trial is {self.gpus_per_trial:g} but the Ray cluster has "
                            f"{res.get('GPU', 0.0):g} GPU(s)")
        if self.cpus_per_trial > res.get("CPU", 0.0):
            raise UserError(f"executor.cpus_per_trial is {self.cpus_per_trial:g} but the Ray cluster has "
                            f"{res.get('CPU', 0.0):g} CPU(s)")
        self._ctx_ref = ray.put(pack(ctx))  # once per search; every task reads this one copy, as numpy

    def submit(self, task: TrialTask) -> None:
        if self._ctx_ref is None:
            raise RuntimeError("RayExecutor.start(ctx) must be called before submit")
        self._launch(_Job(task, 0))

    def _launch(self, job: _Job) -> None:
        env = {k: v for k, v in os.environ.items() if k.startswith("KDNAS_")}
        ref = _REMOTE.options(num_cpus=self.cpus_per_trial, num_gpus=self.gpus_per_trial).remote(
            job.task, self._ctx_ref, self.threads, self.gpus_per_trial == 0, time.time(), job.attempt, env
        )
        self._jobs[ref] = job

    def wait(self, timeout: float | None = None) -> list[TrialOutcome]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._jobs:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _ = ray.wait(list(self._jobs), num_returns=1, timeout=left)
            if ready:  # collect everything else already finished too
                ready, _ = ray.wait(list(self._jobs), num_returns=len(self._jobs), timeout=0)
            outcomes = [o for o in (self._collect(ref) for ref in ready) if o is not None]
            if outcomes or (deadline is not None and time.monotonic() >= deadline):
                return outcomes
        return []

    def _collect(self, ref: ray.ObjectRef) -> TrialOutcome | None:
        job = self._jobs.pop(ref)
        try:
            return ray.get(ref)
        except RayError as err:
            detail = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"[:300]
            if job.cancelled:
                return self._failed(job, "cancelled: the search was interrupted")
            if job.attempt < self.max_retries:
                self._launch(_Job(job.task, job.attempt + 1))
                return None
            return self._failed(job, f"worker died ({job.attempt + 1} attempt(s)): {detail}")

    def _failed(self, job: _Job, reason: str) -> TrialOutcome:
        return TrialOutcome(job.task.number, job.task.arch, False, reason=reason, metrics={"attempt": float(job.attempt)},
                            where={"executor": self.name, "attempt": str(job.attempt)})

    def cancel(self) -> None:
        for ref, job in self._jobs.items():
            job.cancelled = True
            ray.cancel(ref, force=True)

    def shutdown(self) -> None:
        for ref in list(self._jobs):
            ray.cancel(ref, force=True)
        self._jobs.clear()
        self._ctx_ref = None
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
        self._owns_ray = False


def start_local_ray(num_cpus: int, num_gpus: int = 0) -> None:
    """Start a local Ray with these logical resources (benchmarks, notebooks); executors created
    afterwards use it and leave it running until `stop_ray`."""
    ray.init(num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False, log_to_driver=False,
             logging_level=logging.WARNING)


def stop_ray() -> None:
    """Stop the Ray started by `start_local_ray`."""
    if ray.is_initialized():
        ray.shutdown()
