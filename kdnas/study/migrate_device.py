"""Schema step 1 -> 2 for the device: `executor.device` became the study's top-level `device`.

A pure function over a stored resolved config (the shape `kdnas.study.schema` migrates), so a study
stored with `executor: {device: cpu}` resumes as `device: cpu`: what the user wrote is kept, never
resolved (an `auto` must mean the same on every machine that resumes the study).
"""

from __future__ import annotations

import copy


def migrate_device(config: dict) -> tuple[dict, str | None]:
    """Move `executor.device` to the top-level `device`; returns the upgraded copy and one line
    saying what changed, or None when the stored config has no `executor.device`."""
    out = copy.deepcopy(config)
    executor = out.get("executor")
    if not isinstance(executor, dict) or "device" not in executor:
        return out, None
    device = executor.pop("device")
    if "device" in out:  # both present: the top-level field is the one this version reads
        return out, f"dropped executor.device '{device}': the top-level device '{out['device']}' holds"
    out["device"] = device
    return out, f"executor.device '{device}' moved to the top-level device"
