"""`python -m benchmarks.blockwise_demo` on a tiny study: the cold run trains the table, the warm run reuses it."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.blockwise_demo import bench_blockwise
from tests.studykit import write_study


def test_cold_run_trains_the_table_and_warm_run_reads_it(tmp_path: Path) -> None:
    proxy = {"method": "blockwise", "steps": 10, "batch_size": 64, "optimizer": "sgd", "lr": 0.05,
             "blockwise": {"steps": 3, "batch_size": 16, "max_samples": 128, "n_students": 500,
                           "advanced": {"val_samples": 64}}}
    study = write_study(tmp_path, proxy=proxy, budget={"trials": 3})
    r = bench_blockwise(study, tmp_path / "out", "python -m benchmarks.blockwise_demo --study x")
    cold, warm = r["cold"]["blockwise"], r["warm"]["blockwise"]
    assert cold["blocks_trained"] == cold["blocks"] > 0 and cold["blocks_cached"] == 0
    assert warm["blocks_cached"] == warm["blocks"] and warm["blocks_trained"] == 0
    assert warm["students_scored"] > 0 and r["warm"]["complete"] == 3 and r["front_written"]
    assert not r["students_met"]  # the tiny space holds fewer than 10,000 students
    assert json.loads((tmp_path / "out" / "blockwise-demo.json").read_text())["command"].startswith("python -m benchmarks.blockwise_demo")
    assert "Students scored from the filled table" in (tmp_path / "out" / "blockwise-demo.md").read_text()
