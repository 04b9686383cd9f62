"""Schema steps 3 -> 4 for the executor: a version-3 study ran its trials one at a time in the
driver's process, in float32; its stored config says so once migrated."""

from __future__ import annotations

import copy

from kdnas.study.config import ExecutorConfig
from kdnas.study.schema import migrate

V3 = {"name": "s", "schema_version": 3, "objectives": ["score", "macs"],
      "executor": {"kind": "local", "gpus_per_trial": 0.0, "cpus_per_trial": 1.0, "ray_address": None,
                   "max_retries": 1, "cancel_running_on_interrupt": False, "max_concurrent": None}}


def test_a_version_3_executor_is_filled_with_how_it_ran() -> None:
    before = copy.deepcopy(V3)
    out, notes = migrate(V3)
    assert V3 == before  # pure
    assert out["executor"]["workers_per_device"] == 1
    assert out["executor"]["advanced"] == {"amp": False, "channels_last": False, "cudnn_benchmark": False,
                                           "memory_fraction": None}
    assert [n for n in notes if n.startswith("executor.")] == ["executor.workers_per_device absent -> 1",
                                                                    "executor.advanced absent -> {'amp': False, "
                                                                    "'channels_last': False, 'cudnn_benchmark': False, "
                                                                    "'memory_fraction': None}"]
    ExecutorConfig.model_validate(out["executor"])  # today's model reads it
    assert migrate(out) == (out, [])  # nothing left to do


def test_the_filled_section_is_not_shared_between_migrated_configs() -> None:
    a, _ = migrate(V3)
    b, _ = migrate(V3)
    a["executor"]["advanced"]["amp"] = True
    assert b["executor"]["advanced"]["amp"] is False


def test_a_current_executor_is_left_alone() -> None:
    cfg = {**copy.deepcopy(V3), "executor": {**V3["executor"], "workers_per_device": 4,
                                             "advanced": {"amp": True, "channels_last": True,
                                                          "cudnn_benchmark": False, "memory_fraction": 0.2}}}
    out, notes = migrate(cfg)
    assert out["executor"] == cfg["executor"] and not [n for n in notes if n.startswith("executor.")]
