"""The latency-table benchmark end to end on a tiny space, its resumability, and its breakdown."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchmarks.command import run
from benchmarks.latency_table import block_type, breakdown, main
from kdnas.arch import Arch, Stage

from tests.studykit import TINY_SPACE


def test_a_tiny_space_is_measured_written_and_resumed(tmp_path: Path) -> None:
    space = tmp_path / "tiny.yaml"
    space.write_text(yaml.safe_dump(TINY_SPACE))
    argv = ["--spaces", f"{space}@1x8x8", "--backends", "torch", "--students", "6", "--warmup", "1",
            "--repeats", "5", "--sessions", "2", "--separate", "--cache", str(tmp_path / "cache"),
            "--out-dir", str(tmp_path / "out")]
    assert main(argv) == 0
    result = json.loads((tmp_path / "out" / "latency-table.json").read_text())
    assert result["command"] == "python -m benchmarks.latency_table " + " ".join(argv)
    assert result["machine"]["cpu_model"] and result["settings"]["threads"] == 1
    r, separate = result["runs"]  # the table as built, and its parts timed on their own (table v3's way)
    assert (r["table_timing"], separate["table_timing"]) == ("interleaved", "separate")
    assert [s["measured_ms"] for s in separate["students"]] == [s["measured_ms"] for s in r["students"]]
    assert separate["summary"]["table_parts"] > r["summary"]["table_parts"]  # prefixes timed alone too
    x = r["summary"]
    assert r["backend"] == "torch" and x["students"] == len(r["students"]) == 6
    assert 0 <= x["one_timing_within_10_pct"] <= 100  # 2 timings of each student, each against their median
    assert 0 <= x["within_10_pct"] <= 100 and -1 <= x["spearman"] <= 1 and x["mape_pct"] >= 0
    assert x["table_parts"] > 0 and x["table_timed_s"] > 0 and x["measure_all_s"] > 0
    for row in r["students"]:
        assert row["error"] == pytest.approx(row["table_ms"] / row["measured_ms"] - 1)
    stored = sorted((tmp_path / "cache").rglob("*.json"))
    mtimes = [f.stat().st_mtime_ns for f in stored]
    assert main(argv) == 0  # resumed: every part and every student read, nothing measured again
    assert [f.stat().st_mtime_ns for f in sorted((tmp_path / "cache").rglob("*.json"))] == mtimes
    again = json.loads((tmp_path / "out" / "latency-table.json").read_text())["runs"][0]
    assert again["students"] == r["students"]
    # a run cut short is reported from the cache alone: the 6 measured students, nothing timed
    assert main([*argv[:4], "--students", "9", *argv[6:], "--cached-only"]) == 0  # (argv[4:6]: --students 6)
    assert [f.stat().st_mtime_ns for f in sorted((tmp_path / "cache").rglob("*.json"))] == mtimes
    cut = json.loads((tmp_path / "out" / "latency-table.json").read_text())["runs"][0]
    assert {s["arch"] for s in cut["students"]} == {s["arch"] for s in r["students"]}
    main(argv)
    md = (tmp_path / "out" / "latency-table.md").read_text()
    assert main([*argv, "--builds", "2"]) == 0  # the first build read from the cache, the second timed anew
    twice = json.loads((tmp_path / "out" / "latency-table.json").read_text())["runs"]
    assert [r["table_timing"] for r in twice] == ["interleaved #1", "separate #1", "interleaved #2", "separate #2"]
    assert twice[0]["students"] == r["students"] and twice[2]["summary"]["table_parts"] == x["table_parts"]
    assert result["command"] in md and "| torch | interleaved |" in md and "| torch | separate |" in md
    assert "Which blocks" in md


def test_the_breakdown_finds_the_block_type_the_table_misses() -> None:
    ir = Stage.make("ir", 1, 3, 2, 8, 1)
    dws = Stage.make("dws", 1, 3, 1, 8, 1)
    archs = [Arch(8, (a, b), 0) for a in (ir, dws) for b in (ir, dws, Stage.make("skip", 1, 3, 1, 8, 1))]
    # every ir stage measured 7 us above its prediction, dws spot on, 2 us of constant
    residual = np.array([7.0 * sum(s.op == "ir" for s in a.stages) + 2.0 for a in archs])
    rows = {r["type"]: r["residual_us_per_stage"] for r in breakdown(archs, residual)}
    assert rows["ir_k3_e2"] == pytest.approx(7.0) and rows["dws_k3"] == pytest.approx(0.0, abs=1e-9)
    assert rows["constant"] == pytest.approx(2.0) and block_type(dws) == "dws_k3"


def test_a_bad_pair_is_one_line_and_exit_2(capsys: pytest.CaptureFixture) -> None:
    assert run(main, ["--spaces", "mbv2"]) == 2
    assert capsys.readouterr().err.strip() == "benchmarks: error: --spaces takes SPACE@CxHxW (mbv2@3x32x32), got 'mbv2'"
