"""`kdnas retrain` / `export` / `distill` as a user runs them: real processes, a real SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import torch

from kdnas.distill.state import save_state
from kdnas.retrain.records import retrain_results
from kdnas.retrain.study import select_trials
from tests.studykit import write_study

pytestmark = pytest.mark.slow  # real processes: ~1-2 min on an idle 2-core machine, more when loaded

ROOT = Path(__file__).resolve().parents[2]
RETRAIN = {"epochs": 2, "batch_size": 64, "lr": 0.05, "threads": 1, "crop_pad": 1, "warmup_epochs": 0.5}


def kdnas(*args: str, cwd: Path, runs: Path, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "KDNAS_RUNS": str(runs), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "kdnas.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, **kw)


def assert_user_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("kdnas: error: ") and sum(ln.startswith("kdnas: error") for ln in proc.stderr.splitlines()) == 1
    for w in words:
        assert w in last, last


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory, teacher_ckpt: Path) -> tuple[Path, list[int]]:
    """A finished 3-trial study with a retrain section; returns its file and its trained trials."""
    tmp = tmp_path_factory.mktemp("retrain")
    path = write_study(tmp, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)}, budget={"trials": 3},
                       retrain=RETRAIN)
    proc = kdnas("search", str(path), "--no-progress", cwd=tmp, runs=tmp / "runs")
    assert proc.returncode == 0, proc.stderr
    st = optuna.load_study(study_name="tiny-study", storage=f"sqlite:///{tmp / 'study.db'}")
    ok = [t.number for t in st.trials if t.user_attrs.get("status") == "ok"]
    assert len(ok) >= 2
    return path, ok


def _load(study_path: Path) -> optuna.Study:
    return optuna.load_study(study_name="tiny-study", storage=f"sqlite:///{study_path.parent / 'study.db'}")


def test_retrain_killed_then_resumed_equals_uninterrupted(study, tmp_path: Path):
    path, ok = study
    trial = str(ok[0])
    args = ("retrain", str(path), "--trial", trial, "--epochs", "5", "--seed", "7")
    ref = kdnas(*args, cwd=tmp_path, runs=tmp_path / "ref")
    assert ref.returncode == 0, ref.stderr
    runs = tmp_path / "killed"
    folder = runs / "retrain" / "tiny-study" / f"{trial}-kd-s7"
    env = {**os.environ, "KDNAS_RUNS": str(runs), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "kdnas.cli", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (folder / "state.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    epoch = torch.load(folder / "state.pt", weights_only=True)["epoch"]
    assert 1 <= epoch < 5 and not (folder / "model.pt").exists()
    again = kdnas(*args, cwd=tmp_path, runs=runs)
    assert again.returncode == 0, again.stderr
    assert f"resumed at epoch {epoch}" in again.stdout
    a = torch.load(tmp_path / "ref" / "retrain" / "tiny-study" / f"{trial}-kd-s7" / "model.pt", weights_only=True)
    b = torch.load(folder / "model.pt", weights_only=True)
    assert a["state_sha256"] == b["state_sha256"]
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert json.loads((folder / "result.json").read_text())["test_acc"] == a["meta"]["test_acc"]


def test_kd_and_no_kd_write_back_and_export(study, tmp_path: Path):
    path, _ = study
    runs = tmp_path / "runs"
    ok = [t.number for t in select_trials(_load(path), top=2)]  # the two `--top 2` retrains
    kd = kdnas("retrain", str(path), "--top", "2", "--epochs", "1", "--seed", "3", cwd=tmp_path, runs=runs)
    assert kd.returncode == 0, kd.stderr
    nokd = kdnas("retrain", str(path), "--trial", str(ok[0]), "--epochs", "1", "--seed", "3", "--no-kd", "--export",
                 cwd=tmp_path, runs=runs)
    assert nokd.returncode == 0, nokd.stderr
    assert "Kendall tau" in nokd.stdout
    res = retrain_results(_load(path))[ok[0]]
    run_kd, run_nokd = res["runs"]["kd-s3"], res["runs"]["nokd-s3"]
    assert res["final_test_acc"] == pytest.approx(run_kd["test_acc"]) if res["retrain_seeds"] == [3] else True
    assert res["final_test_acc_nokd"] == pytest.approx(run_nokd["test_acc"]) if res["retrain_seeds"] == [3] else True
    assert "kd_gain" in res and res["retrain_epochs"] >= 1 and 3 in res["retrain_seeds"]
    folder = runs / "retrain" / "tiny-study" / f"{ok[0]}-nokd-s3"
    card = json.loads((folder / "model_card.json").read_text())
    assert card["test_acc_nokd"] == run_nokd["test_acc"] and card["test_acc_kd"] == run_kd["test_acc"]
    assert card["onnx_max_abs_diff"] <= 1e-4 and card["macs"] > 0 and card["latency_ms_onnxruntime"] > 0
    assert card["git_revision"] and card["teacher"]["name"] == "resnet20"
    assert (folder / "model.onnx").is_file() and (folder / "model.ts").is_file() and (folder / "model_card.md").is_file()
    exp = kdnas("export", str(path), "--trial", str(ok[1]), "--seed", "3", cwd=tmp_path, runs=runs)
    assert exp.returncode == 0, exp.stderr
    assert "ONNX max |diff|" in exp.stdout


def test_bad_checkpoints_exit_2_with_one_line(study, tmp_path: Path):
    path, ok = study
    runs = tmp_path / "runs"
    other = runs / "retrain" / "tiny-study" / f"{ok[1]}-kd-s0"
    save_state(other / "state.pt", {"meta": {"arch": "stem_c4-basic_s1_k3_e1_c4_d1-head_c0"}, "epoch": 1})
    assert_user_error(kdnas("retrain", str(path), "--trial", str(ok[1]), "--epochs", "1", cwd=tmp_path, runs=runs),
                      "of architecture")
    torch.save({"format": "kdnas-train-state/1", "evil": Path("/")}, other / "state.pt")
    assert_user_error(kdnas("retrain", str(path), "--trial", str(ok[1]), "--epochs", "1", cwd=tmp_path, runs=runs),
                      "weights_only")


def test_distill_any_pair(teacher_ckpt: Path, tmp_path: Path):
    arch = "stem_c4-ir_s1_k3_e1_c4_d1-dws_s2_k3_e1_c8_d1-head_c0"
    common = ("--student", arch, "--data", "digits", "--epochs", "1", "--threads", "1")
    proc = kdnas("distill", "--teacher", "resnet20", "--teacher-checkpoint", str(teacher_ckpt), *common,
                 "--alpha", "0.5", "--temperature", "2", cwd=tmp_path, runs=tmp_path / "runs")
    assert proc.returncode == 0, proc.stderr
    assert "[kd, seed 0]: test" in proc.stdout
    recipe = json.loads(next((tmp_path / "runs" / "distill").rglob("recipe.json")).read_text())["recipe"]
    assert (recipe["distill"]["alpha"], recipe["distill"]["temperature"]) == (0.5, 2.0)  # CE weighs 1 - alpha
    assert_user_error(kdnas("distill", "--teacher", "resnet20", "--teacher-checkpoint", str(teacher_ckpt), *common,
                            "--alpha", "1.5", cwd=tmp_path, runs=tmp_path / "runs"), "alpha")
    assert_user_error(kdnas("distill", "--teacher", "resnet20", *common, cwd=tmp_path, runs=tmp_path / "runs"),
                      "--teacher-checkpoint")
    assert_user_error(kdnas("distill", "--teacher", "resnet56", "--teacher-checkpoint", str(teacher_ckpt), *common,
                            cwd=tmp_path, runs=tmp_path / "runs"), "resnet56")
