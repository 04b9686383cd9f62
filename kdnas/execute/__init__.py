"""Executors: where trial evaluations run (in this process, or as Ray tasks on a cluster)."""

from __future__ import annotations

from kdnas.execute.base import Executor
from kdnas.execute.local import LocalExecutor
from kdnas.execute.task import ProxyContext, TrialOutcome, TrialTask, evaluate

def make_executor(cfg: object) -> Executor:
    """The executor named in a study config: its `executor` section (anything with the fields of
    `ExecutorConfig`), or just its kind. Local with `workers_per_device` > 1: `LocalPool`."""
    kind = cfg if isinstance(cfg, str) else cfg.kind
    if kind == "local":
        if isinstance(cfg, str) or cfg.workers_per_device == 1:
            return LocalExecutor()
        from kdnas.execute.pool import LocalPool

        return LocalPool.from_config(cfg)
    if kind == "ray":
        from kdnas.execute.ray_executor import RayExecutor  # the only module that imports ray

        return RayExecutor() if isinstance(cfg, str) else RayExecutor.from_config(cfg)
    raise ValueError(f"unknown executor '{kind}'")


__all__ = ["Executor", "LocalExecutor", "ProxyContext", "TrialOutcome", "TrialTask", "evaluate", "make_executor"]
