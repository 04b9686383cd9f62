"""bench_proxy on digits with a tiny budget: the report files and their keys (not the timings)."""

from __future__ import annotations

import json

from benchmarks import bench_proxy, default_students
from benchmarks.proxy import DEFAULT_SPACE, main
from kdnas.space import load_space


def test_default_students_grow_in_size() -> None:
    archs = default_students(load_space(DEFAULT_SPACE))
    assert len(archs) == 3 and len(set(archs)) == 3
    assert archs[0] == load_space(DEFAULT_SPACE).smallest().to_str()


def test_bench_proxy_writes_json_and_markdown(tmp_path) -> None:
    students = default_students(load_space(DEFAULT_SPACE))[:2]
    result = bench_proxy(data="digits", students=students, steps=3, batch_size=16, repeats=2,
                         max_train=200, max_val=50, out_dir=tmp_path, command="pytest tiny bench")
    js = json.loads((tmp_path / "proxy-cost.json").read_text())
    assert js == json.loads(json.dumps(result))
    for key in ("benchmark", "command", "date", "machine", "data", "teacher", "settings", "cache", "students", "overall"):
        assert key in js
    assert js["command"] == "pytest tiny bench"
    assert {"nproc", "torch_threads", "cpu_model"} <= js["machine"].keys()
    assert js["teacher"]["trained"] is False
    assert {"compute_s", "load_s", "bytes"} <= js["cache"].keys()
    assert [s["arch"] for s in js["students"]] == students
    for s in js["students"]:
        assert set(s["median_s"]) == {"A", "B", "C"}
        assert all(len(s["runs"][m]) == 2 for m in "ABC")
        assert {"ratio_b_over_a", "ratio_c_over_b", "saving_s_per_trial", "trials_to_amortise_cache"} <= s.keys()
        # B and C see the same teacher logits (cached vs. recomputed), so they train the same way
        assert abs(s["val_acc_median"]["B"] - s["val_acc_median"]["C"]) <= 0.05
    assert {"ratio_b_over_a", "ratio_c_over_b", "trials_to_amortise_cache", "target_met"} <= js["overall"].keys()
    md = (tmp_path / "proxy-cost.md").read_text()
    assert "pytest tiny bench" in md and "B/A" in md
    assert "untrained (random init" in md and "nproc" in md


def test_main_records_the_command_it_ran(tmp_path) -> None:
    argv = ["--data", "digits", "--steps", "2", "--batch-size", "16", "--repeats", "1", "--max-train", "200",
            "--max-val", "50", "--student", default_students(load_space(DEFAULT_SPACE))[0], "--out-dir", str(tmp_path)]
    assert main(argv) == 0
    js = json.loads((tmp_path / "proxy-cost.json").read_text())
    assert js["command"].startswith("python -m benchmarks.proxy --data digits --steps 2")
    assert js["settings"]["steps"] == 2 and len(js["students"]) == 1
