"""`python -m benchmarks.fidelity_compare`: ground-truth agreement and shared proxies on the shared architectures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.command import run
from benchmarks.fidelity_compare import main


def _run(tmp: Path, name: str, gts: dict[str, float], kd: dict[str, float], threads: int) -> Path:
    panel = [{"arch": arch, "macs": 1e6 * (i + 1), "gt": {"acc": acc}, "kd@50": {"score": kd[arch]}}
             for i, (arch, acc) in enumerate(gts.items())]
    r = {"benchmark": "fidelity", "command": f"python -m benchmarks.fidelity {name}", "date": "2026-11-24",
         "data": {"describe": "toy"}, "machine": {"torch_threads": threads},
         "ground_truth": {"recipe": "KD 15 epochs"}, "teacher": {"sha256": "t"},
         "proxies": {"kd@50": {}}, "panel": panel}
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(r))
    return path


def test_shared_architectures_are_compared(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a = _run(tmp_path, "a", {"x": 0.80, "y": 0.82, "z": 0.84, "w": 0.86, "only_a": 0.5},
             {"x": 0.1, "y": 0.2, "z": 0.3, "w": 0.4, "only_a": 0.9}, threads=2)
    b = _run(tmp_path, "b", {"x": 0.81, "y": 0.80, "z": 0.85, "w": 0.87, "only_b": 0.9},
             {"x": 0.4, "y": 0.3, "z": 0.2, "w": 0.1, "only_b": 0.0}, threads=1)
    assert run(main, [str(a), str(b), "--out-dir", str(tmp_path / "out"), "--name", "cmp"]) == 0
    c = json.loads((tmp_path / "out" / "cmp.json").read_text())
    assert c["shared"] == 4 and c["same_recipe"] and c["same_teacher"]
    assert c["gt"]["tau"] == pytest.approx(2 / 3)  # one discordant pair (x, y) of six
    assert c["gt"]["max_abs_diff"] == pytest.approx(0.02) and c["gt"]["spread_a"] == pytest.approx(0.06)
    assert c["proxies"]["kd@50"]["a_vs_gt_a"] == pytest.approx(1.0)
    assert c["proxies"]["kd@50"]["b_vs_gt_b"] < 0
    out = capsys.readouterr().out
    assert "4 architectures in both" in out
    # a single pair ranked the other way moves tau by 0.33 here, as the (x, y) pair did: the report says so
    assert "With only 4 architectures a tau moves by 0.33" in out


def test_a_file_that_is_not_a_fidelity_result_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"benchmark": "scaling"}))
    good = _run(tmp_path, "a", {"x": 0.8}, {"x": 0.1}, threads=1)
    assert run(main, [str(bad), str(good), "--out-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a `python -m benchmarks.fidelity` result" in err[0]
    assert not (tmp_path / "out").exists()
