"""benchmarks.similarity_cost on the tiny digits study: the same students under both proxies, the
report files and their keys (not the timings), and a study whose proxy is not kd refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.command import run
from benchmarks.similarity_cost import MEASURES, main
from tests.studykit import write_study


def test_the_similarity_bench_writes_json_and_markdown(tmp_path: Path, teacher_ckpt: Path, monkeypatch) -> None:
    monkeypatch.setenv("KDNAS_RUNS", str(tmp_path / "runs"))
    study = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)},
                        constraints={"max_macs": "200K"})
    out = tmp_path / "out"
    assert main(["--study", str(study), "--students", "4", "--probe-size", "32", "--out-dir", str(out)]) == 0
    js = json.loads((out / "similarity-cost.json").read_text())
    assert js["command"].startswith("python -m benchmarks.similarity_cost --study")
    assert len(js["probe"]) == 32 and js["similarity"]["probe_size"] == 32
    students = js["students"]
    assert len(students) == 4 == len({s["arch"] for s in students}) and all(s["macs"] <= 200_000 for s in students)
    for s in students:
        assert s["kd"]["wall_s"] > 0 and 0 <= s["kd"]["val_acc"] <= 1
        assert all(s[m]["wall_s"] > 0 and s[m]["similarity_s"] > 0 for m in MEASURES)
    for m in MEASURES:
        assert -1 <= js["summary"][m]["tau"] <= 1 and js["summary"][m]["median_wall_s"] > 0
    md = (out / "similarity-cost.md").read_text()
    assert js["command"] in md and "| similarity, cka |" in md and "Kendall τ" in md


def test_a_study_whose_proxy_is_not_kd_is_refused(tmp_path: Path, capsys) -> None:
    study = write_study(tmp_path, proxy={"method": "ce", "steps": 5})
    assert run(main, ["--study", str(study), "--out-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("benchmarks: error: ") and "must be method kd" in err and "\n" not in err
    assert not (tmp_path / "out").exists()
