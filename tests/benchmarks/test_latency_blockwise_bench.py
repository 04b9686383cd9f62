"""The latency-limited block-wise benchmark end to end on the tiny space, and its argument errors."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from benchmarks.command import run
from benchmarks.latency_blockwise import main

from tests.studykit import study_dict


def test_a_tiny_blockwise_study_keeps_its_trained_students_within_the_limit(tmp_path: Path,
                                                                            teacher_ckpt: Path) -> None:
    cfg = study_dict(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)}, budget={"trials": 2},
                     proxy={"method": "blockwise", "steps": 5, "batch_size": 64, "optimizer": "sgd", "lr": 0.05,
                            "blockwise": {"steps": 3, "batch_size": 16, "max_samples": 128, "n_students": 500,
                                          "advanced": {"val_samples": 64}}})
    study = tmp_path / "tiny-blockwise.yaml"
    study.write_text(yaml.safe_dump(cfg))
    argv = ["--cases", "digits", "--study", str(study), "--backend", "torch", "--warmup", "1", "--repeats", "5",
            "--percentile", "50", "--pool", "500", "--runs", str(tmp_path / "runs"), "--out-dir", str(tmp_path / "out")]
    assert main(argv) == 0
    result = json.loads((tmp_path / "out" / "latency-blockwise.json").read_text())
    assert result["command"] == "python -m benchmarks.latency_blockwise " + " ".join(argv)
    (case,) = result["cases"]
    s, limit = case["summary"], case["limit_ms"]
    space_size = case["blockwise"]["space_size"]  # under 500: the tiny space is scored whole
    assert case["input_shape"] == [1, 8, 8] and s["scored"] == space_size and 0 < s["feasible_by_table"] < space_size
    # every student trained was timed before training and within the limit; a pick over it was re-picked
    assert len(case["trained"]) == 2 and all(r["measured_ms"] <= limit for r in case["trained"])
    assert s["front_within_limit"] == s["front"] >= 1 and s["repicks"] == len(case["blockwise"]["refused"])
    assert all(r["table_ms"] <= limit and r["source"] == "measured" for r in case["trained"])
    md = (tmp_path / "out" / "latency-blockwise.md").read_text()
    assert result["command"] in md and "| digits | 1x8x8 |" in md


def test_a_missing_cifar_folder_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    argv = ["--cases", "cifar10", "--cifar-root", str(tmp_path / "absent"), "--out-dir", str(tmp_path / "out")]
    assert run(main, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("benchmarks: error: --cifar-root")
    assert not (tmp_path / "out").exists()
