"""`python -m benchmarks.search_efficiency` on digits: a table of a 16-student space scored at three rungs,
then every strategy replayed on it through real Optuna samplers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.command import run
from benchmarks.efficiency_replay import Table, replay
from benchmarks.efficiency_table import TableRun, enumerate_space
from benchmarks.fidelity import _load
from benchmarks.search_efficiency import main
from kdnas.distill import ProxySpec, run_proxy, teacher_outputs
from kdnas.errors import UserError
from kdnas.space import build_student, load_space
from kdnas.teachers import TeacherSpec, build_model, freeze

SPACE = Path(__file__).resolve().parent / "efficiency_space.yaml"
RUNGS = (2, 6, 18)
DATA = ["--data", "digits", "--train-subset", "192", "--val-subset", "64", "--test-subset", "32"]


def _teacher(path: Path) -> Path:
    """An untrained resnet20 for 8x8 digits, saved as the harness reads a teacher: the runs distil from
    its logits all the same, and training one would cost more than the whole test."""
    torch.manual_seed(0)
    model = build_model(TeacherSpec(name="resnet20"), num_classes=10, in_channels=1, input_size=(8, 8))
    torch.save({"state": model.state_dict(), "val_acc": 0.1}, path)
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(table, teacher) of the test space, built once for the module."""
    tmp = tmp_path_factory.mktemp("efficiency")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KDNAS_RUNS", str(tmp / "runs"))
        teacher = _teacher(tmp / "teacher.pt")
        args = ["build", *DATA, "--space", str(SPACE), "--teacher", str(teacher), "--rungs", ",".join(map(str, RUNGS)),
                "--out", str(tmp / "table.json")]
        assert main(args) == 0
        yield tmp / "table.json", teacher


def test_every_student_is_scored_at_every_rung_with_its_costs(built: tuple[Path, Path], tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    table_path, teacher = built
    t = json.loads(table_path.read_text())
    assert t["size"] == 16 and len(t["students"]) == 16 and t["rungs"] == list(RUNGS)
    assert t["space"] == "tests/benchmarks/efficiency_space.yaml"  # not one machine's absolute path
    assert t["proxy"]["steps"] == RUNGS[-1]  # the schedule's horizon is the top rung
    assert len({s["arch"] for s in t["students"]}) == 16 and len({s["macs"] for s in t["students"]}) > 4
    for s in t["students"]:
        assert s["macs"] > 0 and s["params"] > 0
        assert list(s["rungs"]) == [str(r) for r in RUNGS]
        train_s = [s["rungs"][str(r)]["train_s"] for r in RUNGS]
        assert train_s == sorted(train_s)  # one run, continued: its training time only grows
        for r in RUNGS:
            assert 0 <= s["rungs"][str(r)]["val_acc"] <= 1 and s["rungs"][str(r)]["val_loss"] > 0
    # training goes somewhere: the students' mean validation loss falls from the first rung to the top
    assert np.mean([s["rungs"]["18"]["val_loss"] for s in t["students"]]) < np.mean(
        [s["rungs"]["2"]["val_loss"] for s in t["students"]])


def test_a_second_build_reads_every_student_from_its_cache(built: tuple[Path, Path], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    table_path, teacher = built
    monkeypatch.setenv("KDNAS_RUNS", str(table_path.parent / "runs"))
    args = ["build", *DATA, "--space", str(SPACE), "--teacher", str(teacher), "--rungs", ",".join(map(str, RUNGS)),
            "--out", str(tmp_path / "again.json")]
    assert main(args) == 0
    first, again = json.loads(table_path.read_text()), json.loads((tmp_path / "again.json").read_text())
    assert again["students"] == first["students"]  # the same seconds too: nothing was trained again


def test_scoring_at_the_rungs_leaves_the_run_as_a_plain_proxy_run(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    """The top rung's score is what `run_proxy` gives the same student for the top rung's steps: the
    evaluations on the way (BatchNorm recalibration included) did not touch the trajectory."""
    monkeypatch.setenv("KDNAS_RUNS", str(tmp_path / "runs"))
    torch.set_num_threads(1)
    data = _load("digits", None, 192, 64, 32)
    torch.manual_seed(0)
    teacher = freeze(build_model(TeacherSpec(name="resnet20"), num_classes=10, in_channels=1, input_size=(8, 8)))
    outputs = teacher_outputs(teacher, data.train.x, teacher_id="random", data_fingerprint=data.fingerprint)
    spec = ProxySpec(method="kd", steps=12, threads=1)
    arch = enumerate_space(load_space(SPACE))[5]
    rec = TableRun(data, outputs, spec, (4, 12), seed=3).student(arch)
    torch.manual_seed(3)
    plain = run_proxy(build_student(arch, 1, 10), data.train.x, data.train.y, data.val.x, data.val.y, outputs, spec,
                      seed=3)
    top = rec["rungs"]["12"]
    assert top["val_acc"] == pytest.approx(plain.val_acc, abs=1e-9)
    assert top["val_loss"] == pytest.approx(plain.val_loss, rel=1e-5)
    assert top["tse"] == pytest.approx(plain.train_loss_mean, rel=1e-5)
    assert rec["rungs"]["4"]["val_loss"] != pytest.approx(top["val_loss"], rel=1e-3)


def test_replays_spend_the_budget_as_kdnas_would(built: tuple[Path, Path]) -> None:
    table = Table.read(built[0])
    space = load_space(SPACE)
    budget = 4 * RUNGS[-1]
    for sampler in ("random", "tpe", "nsga2"):
        plain = replay(table, space, sampler, 0, budget)
        assert plain.steps[-1] == budget and plain.trained[-1] == 4 and plain.promotions == 0
        assert plain.hv == sorted(plain.hv) and 0 < plain.hv[-1] <= table.best_hypervolume()
        halving = replay(table, space, sampler, 0, budget, eta=3)
        assert halving.promotions > 0 and halving.steps[-1] < budget + RUNGS[-1]
        costs = set(np.diff(halving.steps))
        assert costs <= {RUNGS[0], RUNGS[1] - RUNGS[0], RUNGS[2] - RUNGS[1]}  # a promotion continues, not restarts
    # halving over some of the table's rungs: a new student costs the first of them
    two = replay(table, space, "random", 0, budget, eta=3, halving_rungs=(6, 18))
    assert set(np.diff(two.steps)) <= {6, 12} and two.promotions > 0
    with pytest.raises(UserError, match="ending at its top"):
        replay(table, space, "random", 0, budget, eta=3, halving_rungs=(2, 6))
    # the same seed replays the same search; another seed another
    a, b = replay(table, space, "tpe", 1, budget, eta=3), replay(table, space, "tpe", 1, budget, eta=3)
    assert (a.steps, a.hv) == (b.steps, b.hv)
    # a budget larger than the space trains every student once and ends: the whole table's front
    everything = replay(table, space, "random", 0, 100 * budget)
    assert everything.stopped_by == "exhausted" and everything.trained[-1] == 16
    assert everything.hv[-1] == pytest.approx(table.best_hypervolume())


def test_replay_writes_the_report_with_its_targets(built: tuple[Path, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    assert main(["replay", "--table", str(built[0]), "--seeds", "2", "--trials", "4", "--out-dir", str(tmp_path),
                 "--name", "se"]) == 0
    r = json.loads((tmp_path / "se.json").read_text())
    s = r["summary"]
    assert list(s["strategies"]) == ["random", "tpe", "nsga2", "halving+random", "halving+tpe", "halving+nsga2"]
    assert r["budget_steps"] == 4 * RUNGS[-1] and len(s["grid_steps"]) == 101
    assert r["table"]["student_seconds"] > 0 and r["halving_rungs"] == list(RUNGS)
    for st in s["strategies"].values():
        assert st["at"]["25%"]["median"] <= st["at"]["50%"]["median"] <= st["at"]["100%"]["median"]
        assert max(st["curve_q75"]) <= s["best_hypervolume"] + 1e-12 and len(st["final"]) == 2
    for name, st in s["strategies"].items():  # halving looks at more students than it finishes; plain finishes all
        wider = st["trained_any"]["median"] > st["trained_top"]["median"]
        assert wider if name.startswith("halving+") else st["trained_any"] == st["trained_top"]
    assert [h["strategy"] for h in s["halving"]] == ["halving+random", "halving+tpe", "halving+nsga2"]
    assert [g["sampler"] for g in s["samplers"]] == ["tpe", "nsga2"]
    assert [(p["from"], p["to"]) for p in s["rung_agreement"]] == [(2, 6), (6, 18), (2, 18)]
    assert all(-1 <= p["tau_acc"] <= 1 for p in s["rung_agreement"])
    md = (tmp_path / "se.md").read_text()
    assert "## Targets" in md and md.count("**met**") + md.count("**NOT met**") == 5 and (tmp_path / "se.png").is_file()
    assert "python -m benchmarks.search_efficiency replay" in capsys.readouterr().out


def test_a_table_of_another_space_or_bad_rungs_is_refused(built: tuple[Path, Path], tmp_path: Path) -> None:
    t = json.loads(built[0].read_text())
    t["students"] = t["students"][1:]  # a student the space holds is missing from the table
    (tmp_path / "short.json").write_text(json.dumps(t))
    with pytest.raises(UserError, match="has no student for some"):
        replay(Table.read(tmp_path / "short.json"), load_space(SPACE), "random", 0, 10_000)
    with pytest.raises(UserError, match="not rungs of eta 2"):
        replay(Table.read(built[0]), load_space(SPACE), "random", 0, 100, eta=2)
    assert run(main, ["build", "--rungs", "6,2"]) == 2
    assert run(main, ["replay", "--table", str(tmp_path / "absent.json")]) == 2
