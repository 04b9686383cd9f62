"""Benchmarks whose results are committed under `reports/benchmarks/` with the command that made them.

`bench_proxy` (in `kdnas.bench.proxy`): what one trial costs with cached teacher outputs, against
training the student alone and against running the teacher on every step
(``python -m kdnas.bench.proxy``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["bench_proxy", "default_students"]


def __getattr__(name: str) -> Any:
    # imported on use, so `python -m kdnas.bench.proxy` does not import the module twice
    if name in __all__:
        from kdnas.bench import proxy

        return getattr(proxy, name)
    raise AttributeError(f"module 'kdnas.bench' has no attribute {name!r}")
