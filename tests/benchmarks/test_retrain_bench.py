"""`python -m benchmarks.retrain` end to end on digits with a tiny study: members, hand design, files, records."""

from __future__ import annotations

import json

import optuna

from benchmarks.retrain import choose_members, hand_designs, main
from kdnas.retrain.records import retrain_results
from kdnas.space import load_space
from kdnas.study import records as R
from tests.studykit import write_study


def test_hand_designs_are_uniform_members_of_the_space(tmp_path) -> None:
    path = write_study(tmp_path)
    space = load_space(tmp_path / "tiny.yaml")
    designs = hand_designs(space)
    assert designs and len(set(map(str, designs))) == len(designs)
    for a in designs:
        assert space.contains(a)
        assert len({(s.op, s.kernel) for s in a.stages if s.op != "skip"}) == 1  # one rule everywhere
    del path


def test_bench_retrain_writes_gain_and_rank_agreement(tmp_path, teacher_ckpt) -> None:
    path = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)},
                       budget={"trials": 6}, sampler={"name": "random"}, constraints={"max_macs": 200_000},
                       retrain={"epochs": 1, "batch_size": 128, "threads": 1, "augment": False})
    out = tmp_path / "bench"
    assert main(["--study", str(path), "--members", "2", "--seeds", "0", "1", "--out-dir", str(out)]) == 0
    js = json.loads((out / "retrain-tiny-study.json").read_text())
    study = optuna.load_study(study_name="tiny-study", storage=f"sqlite:///{tmp_path / 'study.db'}")
    members = choose_members(study, 2)
    assert [s["trial"] for s in js["students"]] == [t.number for t in members] + [None]
    hand = js["students"][-1]
    assert hand["label"] == "hand" and hand["arch"] not in {t.user_attrs[R.ARCH] for t in members}
    for s in js["students"]:
        assert len(s["kd_test"]) == 2 and len(s["nokd_test"]) == 2  # two seeds, both kinds
        assert abs(s["gain_mean"] - (s["kd_test_mean"] - s["nokd_test_mean"])) < 1e-9
    assert js["rank_n"] == 2
    assert set(retrain_results(study)) == {t.number for t in members}  # written back like `kdnas retrain`
    md = (out / "retrain-tiny-study.md").read_text()
    assert "Kendall tau" in md and "labels-only" in md and js["command"] in md


def test_bench_retrain_diagnosis_flags(tmp_path, teacher_ckpt) -> None:
    path = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)},
                       budget={"trials": 4}, sampler={"name": "random"},
                       retrain={"epochs": 1, "batch_size": 128, "threads": 1, "augment": False})
    out = tmp_path / "bench"
    argv = ["--study", str(path), "--members", "1", "--seeds", "0", "--no-hand", "--alpha", "0.5",
            "--temperature", "2", "--tag", "diag", "--out-dir", str(out)]
    assert main(argv) == 0
    js = json.loads((out / "retrain-tiny-study-diag.json").read_text())
    assert [s["label"] for s in js["students"]] == [f"trial {js['students'][0]['trial']}"]  # no hand design
    assert js["recipe"]["distill"]["alpha"] == 0.5 and js["recipe"]["distill"]["temperature"] == 2.0
    assert all("-a0.5-T2" in str(p) for p in (tmp_path / "runs" / "bench-retrain" / "tiny-study").iterdir())
