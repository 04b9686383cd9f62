"""Schema step for `latency.backend`: a stored study that measured latency resumes measuring it in
PyTorch eager, as it did; one that measured none takes today's default."""

from __future__ import annotations

import copy

from kdnas.study.migrate_latency import migrate_latency_backend
from kdnas.study.schema import MIGRATIONS_2_TO_3, MIGRATIONS_3_TO_4, SCHEMA_VERSION, migrate

SPEC = {"device": "cpu", "batch_size": 1, "threads": 1, "warmup": 5, "repeats": 20}


def _config(**over: object) -> dict:
    return {"name": "s", "objectives": ["score", "macs"], "latency": dict(SPEC),
            "constraints": {"max_macs": None, "max_params": None, "max_latency_ms": None}, **over}


def test_a_study_that_measured_latency_keeps_torch() -> None:
    for cfg in (_config(objectives=["score", "latency"]),
                _config(constraints={"max_macs": None, "max_params": None, "max_latency_ms": 2.0})):
        before = copy.deepcopy(cfg)
        out, note = migrate_latency_backend(cfg)
        assert out["latency"] == {**SPEC, "backend": "torch"}
        assert note == "latency.backend absent -> torch (its latencies were measured in PyTorch eager)"
        assert cfg == before  # pure
        assert migrate_latency_backend(out) == (out, None)  # nothing left to do


def test_a_study_that_measured_no_latency_takes_the_default() -> None:
    out, note = migrate_latency_backend(_config())
    assert out["latency"]["backend"] == "onnxruntime" and note.startswith("latency.backend absent -> onnxruntime")


def test_a_config_without_latency_or_with_a_backend_is_left_alone() -> None:
    bare = {"name": "s", "objectives": ["score", "latency"]}
    assert migrate_latency_backend(bare) == (bare, None)
    chosen = _config(objectives=["score", "latency"], latency={**SPEC, "backend": "onnxruntime"})
    assert migrate_latency_backend(chosen) == (chosen, None)


def test_registered_for_version_2_and_run_by_migrate() -> None:
    assert migrate_latency_backend in MIGRATIONS_2_TO_3
    out, notes = migrate({**_config(objectives=["score", "latency"]), "schema_version": 2})
    assert out["latency"]["backend"] == "torch" and out["schema_version"] == SCHEMA_VERSION
    assert "latency.backend absent -> torch (its latencies were measured in PyTorch eager)" in notes


def test_a_version_3_study_timed_every_student() -> None:
    """`latency.mode` came after version 3: a version-3 study is read as `measured`, which is how it
    ran (each student timed before training); a config that names a mode keeps it."""
    v3 = {**_config(objectives=["score", "latency"], latency={**SPEC, "backend": "onnxruntime"}), "schema_version": 3}
    before = copy.deepcopy(v3)
    out, notes = migrate(v3)
    assert out["latency"] == {**SPEC, "backend": "onnxruntime", "mode": "measured"}
    assert [n for n in notes if n.startswith("latency.")] == ["latency.mode absent -> measured"] and out["schema_version"] == SCHEMA_VERSION
    assert v3 == before  # pure
    chosen = {**v3, "latency": {**v3["latency"], "mode": "table"}}
    assert migrate(chosen)[0]["latency"]["mode"] == "table"
    assert any(step.__name__ == "fill_latency_mode" for step in MIGRATIONS_3_TO_4)
