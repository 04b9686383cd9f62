"""The latency-backends benchmark end to end on two students, and its rank correlation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.command import run
from benchmarks.latency_backends import _spearman, main


def test_two_students_both_backends_written_with_the_command(tmp_path: Path) -> None:
    argv = ["--students", "2", "--inputs", "1x8x8", "--warmup", "1", "--repeats", "2", "--out-dir", str(tmp_path)]
    assert main(argv) == 0
    result = json.loads((tmp_path / "latency-backends.json").read_text())
    assert result["command"] == "python -m benchmarks.latency_backends " + " ".join(argv)
    assert result["settings"]["threads"] == 1 and result["machine"]["cpu_model"]
    (shape,) = result["shapes"]
    assert shape["input_shape"] == [1, 8, 8] and len(shape["students"]) == 2
    for row in shape["students"]:
        assert row["torch_ms"] > 0 and row["onnxruntime_ms"] > 0 and row["macs"] > 0
        assert (row["torch_provider"], row["onnxruntime_provider"]) == ("eager", "CPUExecutionProvider")
        assert row["ratio"] == pytest.approx(row["torch_ms"] / row["onnxruntime_ms"])
    md = (tmp_path / "latency-backends.md").read_text()
    assert result["command"] in md and "| 1x8x8 |" in md


def test_spearman_ranks_with_ties() -> None:
    assert _spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert _spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert _spearman([1, 1, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486832980505138)  # scipy.stats.spearmanr


def test_a_bad_shape_is_one_line_and_exit_2(capsys: pytest.CaptureFixture) -> None:
    assert run(main, ["--inputs", "8x8"]) == 2
    assert capsys.readouterr().err.strip() == "benchmarks: error: --inputs takes CxHxW shapes (1x8x8), got '8x8'"
