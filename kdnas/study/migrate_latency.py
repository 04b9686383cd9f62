"""Schema step 2 -> 3 for latency: `latency.backend` was added with the default onnxruntime; before
it, every latency was measured in PyTorch eager.

A pure function over a stored resolved config (the shape `kdnas.study.schema` migrates).
"""

from __future__ import annotations

import copy


def _measured_latency(config: dict) -> bool:
    """Whether the study measured latency: an objective or a limit uses it (`StudyConfig.needs_latency`)."""
    objectives = config.get("objectives")
    constraints = config.get("constraints")
    limit = constraints.get("max_latency_ms") if isinstance(constraints, dict) else None
    return (isinstance(objectives, list) and "latency" in objectives) or limit is not None


def migrate_latency_backend(config: dict) -> tuple[dict, str | None]:
    """Fill an absent `latency.backend`: ``torch`` where the study measured latency, so it resumes
    measuring what its trials measured; ``onnxruntime`` (today's default) where it measured none,
    since either reproduces it and the study then resumes with a config that does not name a backend.
    Returns the upgraded copy and one line saying what changed, or None when there was nothing to fill."""
    out = copy.deepcopy(config)
    latency = out.get("latency")
    if not isinstance(latency, dict) or "backend" in latency:
        return out, None
    if _measured_latency(out):
        latency["backend"] = "torch"
        return out, "latency.backend absent -> torch (its latencies were measured in PyTorch eager)"
    latency["backend"] = "onnxruntime"
    return out, "latency.backend absent -> onnxruntime (the study measured no latency)"
