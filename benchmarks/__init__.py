"""Research and performance harnesses, run from a checkout (not part of the installed package).

Each is `python -m benchmarks.NAME ARGS` from the repository root and writes its figures, with the
exact command that made them, to `reports/benchmarks/` (docs/benchmarks.md lists the current ones):

- `proxy`: what one trial costs with cached teacher outputs, against the naive ways;
- `scaling`: one study with 1 and with 2 Ray workers;
- `report_build`: how long `kdnas report` takes on a study of 1,000 trials;
- `retrain`: the distillation gain and the proxy-to-final rank agreement after full training;
- `fidelity`, `fidelity_compare`: how well each proxy ranks a panel of students against a trained
  ground truth, and how two such runs agree;
- `blockwise_demo`: the block-wise demo search timed cold and warm;
- `eval_batch_cpu`: the CPU evaluation pass by batch size.
"""

from __future__ import annotations

from typing import Any

__all__ = ["bench_proxy", "default_students"]


def __getattr__(name: str) -> Any:
    # imported on use, so `python -m benchmarks.proxy` does not import the module twice
    if name in __all__:
        from benchmarks import proxy

        return getattr(proxy, name)
    raise AttributeError(f"module 'benchmarks' has no attribute {name!r}")
