"""The latency table: its cache key follows what changes a figure, a student's prediction is the sum
of its entries plus the overhead (also in the vectorised form the block-wise search uses), and a
table built by one process is read, not timed again, by another."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kdnas.arch import Arch
from kdnas.blockwise.costs import CostTable
from kdnas.blockwise.plan import stage_choices
from kdnas.cost import LatencySpec
from kdnas.cost.latency_table import TABLE_MIN_REPEATS, build_latency_table, setting_key, table_key
from kdnas.space import SearchSpace

# Two stages, the second entered by either width of the first (or by the stem's, past a skip).
SPACE = SearchSpace(name="lt", stem=[4, 8], head=[0, 16], stages=[
    {"stride": 2, "op": ["ir", "dws"], "kernel": [3], "expand": [2], "width": [8, 12], "depth": [1]},
    {"stride": 1, "op": ["dws", "skip"], "kernel": [3], "width": [12], "depth": [1]},
])
SHAPE = (1, 8, 8)
TORCH = LatencySpec(backend="torch", warmup=1, repeats=5)  # the table times its parts 100 times anyway


def test_the_key_changes_with_threads_batch_backend_shape_and_space() -> None:
    base = LatencySpec()
    keys = {table_key(SPACE, SHAPE, 10, s) for s in
            (base, base.model_copy(update={"threads": 2}), base.model_copy(update={"batch_size": 4}),
             base.model_copy(update={"backend": "torch"}))}
    assert len(keys) == 4
    assert table_key(SPACE, (1, 16, 16), 10, base) != table_key(SPACE, SHAPE, 10, base)
    other = SPACE.model_copy(update={"head": [0]})
    assert table_key(other, SHAPE, 10, base) != table_key(SPACE, SHAPE, 10, base)
    # the mode decides how figures are used, not what they are: the same timed parts
    assert setting_key(base.model_copy(update={"mode": "table"})) == setting_key(base)
    assert table_key(SPACE.model_copy(update={"name": "renamed"}), SHAPE, 10, base) == table_key(SPACE, SHAPE, 10, base)


def _all_archs() -> list[Arch]:
    choices = stage_choices(SPACE)
    return [Arch(stem, (a, b), head) for stem in SPACE.stem for a in choices[0] for b in choices[1]
            for head in SPACE.head]


def test_a_prediction_is_the_sum_of_its_entries_plus_the_overhead(tmp_path: Path) -> None:
    table = build_latency_table(SPACE, SHAPE, 10, TORCH, cache=tmp_path)
    assert table.measured > 0 and table.cached == 0 and table.overhead_ms > 0
    # stage 0 is entered by the stem's widths; stage 1 by stage 0's (which never skips)
    assert {c for _, c in table.stages[1]} == {8, 12}
    assert {c for _, c in table.stages[0]} == {4, 8}
    for arch in _all_archs():
        width = arch.stages[0].width
        dws = arch.stages[1]
        expected = (table.overhead_ms + table.stem[arch.stem] + table.stages[0][(arch.stages[0], arch.stem)]
                    + (0.0 if dws.op == "skip" else table.stages[1][(dws, width)])
                    + table.tail[(dws.width if dws.op != "skip" else width, arch.head)])
        assert table.predict(arch) == pytest.approx(expected, rel=1e-12)
        assert table.predict(arch) > 0
    # the vectorised form the block-wise search uses gives the same figures
    choices = tuple(tuple(c) for c in stage_choices(SPACE))
    costs = CostTable(SPACE, choices, SHAPE, 10, latency=table)
    archs = _all_archs()
    codes = np.array([[SPACE.stem.index(a.stem), choices[0].index(a.stages[0]), choices[1].index(a.stages[1]),
                       SPACE.head.index(a.head)] for a in archs])
    np.testing.assert_allclose(costs.latency_ms(codes), [table.predict(a) for a in archs], rtol=1e-12)


def test_a_table_built_by_one_process_is_read_by_another(tmp_path: Path) -> None:
    first = build_latency_table(SPACE, SHAPE, 10, TORCH, cache=tmp_path)
    files = sorted(tmp_path.rglob("*.json"))
    assert len(files) == first.measured > 0
    mtimes = {f: f.stat().st_mtime_ns for f in files}
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from kdnas.cost import LatencySpec\n"
        "from kdnas.cost.latency_table import build_latency_table\n"
        "from tests.cost.test_latency_table import SPACE, SHAPE, TORCH\n"
        f"t = build_latency_table(SPACE, SHAPE, 10, TORCH, cache=Path({str(tmp_path)!r}))\n"
        "print(json.dumps({'measured': t.measured, 'cached': t.cached, 'key': t.key,"
        " 'stem': {str(k): v for k, v in t.stem.items()}}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    second = json.loads(out.stdout.strip().splitlines()[-1])
    assert second["measured"] == 0 and second["cached"] == first.measured
    assert second["key"] == first.key
    assert {int(k): v for k, v in second["stem"].items()} == first.stem
    assert {f: f.stat().st_mtime_ns for f in sorted(tmp_path.rglob("*.json"))} == mtimes  # nothing rewritten


def test_onnxruntime_parts_are_timed_with_their_setting(tmp_path: Path) -> None:
    space = SPACE.model_copy(update={"stem": [4], "head": [0]})
    table = build_latency_table(space, SHAPE, 10, LatencySpec(warmup=1, repeats=5), cache=tmp_path)
    assert table.setting["backend"] == "onnxruntime" and table.setting["provider"] == "CPUExecutionProvider"
    assert table.setting["repeats"] == TABLE_MIN_REPEATS["onnxruntime"] > 5 and table.setting["cpu"]
    rec = json.loads(next(tmp_path.rglob("stem_*.json")).read_text())
    assert rec["setting"] == table.setting and rec["ms"] > 0
    assert all(table.predict(a) > 0 for a in _all_archs() if a.stem == 4 and a.head == 0)
