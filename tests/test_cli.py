"""The `kdnas` command as a user runs it: real processes, exit statuses, one-line errors."""

from __future__ import annotations

import os
import pickle
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from tests.studykit import study_dict, write_study

ROOT = Path(__file__).resolve().parents[1]


def kdnas(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python -m kdnas.cli ...` in a fresh process."""
    full_env = {**os.environ, "KDNAS_RUNS": str(cwd / "runs"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "kdnas.cli", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=300)


def assert_user_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    """Exit status 2, no traceback, and the error is one line (the last; progress lines may precede it)."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("kdnas: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], proc.stderr
    err = errors[0]
    for w in words:
        assert w in err, err


def _trial_count(db: Path) -> int:
    with sqlite3.connect(db) as con:
        return con.execute("select count(*) from trials").fetchone()[0]


@pytest.fixture()
def finished_study(tmp_path: Path, teacher_ckpt: Path) -> Path:
    path = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)}, budget={"trials": 3})
    proc = kdnas("search", str(path), "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "front:" in proc.stdout and (tmp_path / "reports" / "tiny-study" / "pareto.csv").is_file()
    return path


def test_search_then_report(finished_study: Path, tmp_path: Path) -> None:
    proc = kdnas("report", "tiny-study", "--storage", f"sqlite:///{tmp_path / 'study.db'}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "sampled: 3 trained" in proc.stdout and "teach" in proc.stdout
    assert (tmp_path / "reports" / "tiny-study" / "trials.csv").read_text().count("\n") == 4


def test_report_of_unknown_study(finished_study: Path, tmp_path: Path) -> None:
    proc = kdnas("report", "no-such-study", "--storage", f"sqlite:///{tmp_path / 'study.db'}", cwd=tmp_path)
    assert_user_error(proc, "no study named 'no-such-study'")


def test_changed_config_is_refused_and_changes_nothing(finished_study: Path, tmp_path: Path, teacher_ckpt: Path) -> None:
    before = _trial_count(tmp_path / "study.db")
    changed = write_study(tmp_path, "changed.yaml", teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)},
                          proxy={"method": "kd", "steps": 99})
    assert_user_error(kdnas("search", str(changed), cwd=tmp_path), "already exists", "proxy")
    assert _trial_count(tmp_path / "study.db") == before


def test_unknown_block_op(tmp_path: Path) -> None:
    space = tmp_path / "bad-space.yaml"
    space.write_text(yaml.safe_dump({"name": "bad", "stem": [8], "stages": [{"op": ["warp"], "width": [8]}]}))
    path = write_study(tmp_path, space=str(space))
    assert_user_error(kdnas("search", str(path), cwd=tmp_path), "bad-space.yaml", "stages.0.op", "unknown block op 'warp'")
    assert not (tmp_path / "study.db").exists()


def test_negative_budget(tmp_path: Path) -> None:
    path = write_study(tmp_path, budget={"trials": -1})
    assert_user_error(kdnas("search", str(path), cwd=tmp_path), "budget.trials")


def test_missing_study_file(tmp_path: Path) -> None:
    assert_user_error(kdnas("search", "nowhere.yaml", cwd=tmp_path), "nowhere.yaml", "not found")


def test_data_directory_without_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty-data"
    empty.mkdir()
    path = write_study(tmp_path, data={"name": "fashion_mnist", "root": str(empty), "download": False})
    proc = kdnas("search", str(path), cwd=tmp_path)
    assert_user_error(proc, "train-images-idx3-ubyte.gz", str(empty))
    assert not (tmp_path / "study.db").exists()


def test_checkpoint_of_another_architecture(tmp_path: Path, teacher_ckpt: Path) -> None:
    path = write_study(tmp_path, teacher={"name": "resnet32", "checkpoint": str(teacher_ckpt)})
    assert_user_error(kdnas("search", str(path), cwd=tmp_path), str(teacher_ckpt.name), "resnet20", "resnet32")
    assert not (tmp_path / "study.db").exists()


class Payload:
    """Something `weights_only` must refuse to unpickle."""

    def __reduce__(self):  # noqa: D105
        return (print, ("this must never run",))


def test_checkpoint_weights_only_refuses(tmp_path: Path) -> None:
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "meta": {"arch": "resnet20"}, "x": Payload()}, evil, pickle_module=pickle)
    path = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(evil)})
    proc = kdnas("search", str(path), cwd=tmp_path)
    assert_user_error(proc, "evil.pt")
    assert "this must never run" not in proc.stdout
    assert not (tmp_path / "study.db").exists()


def test_missing_checkpoint_without_auto_training(tmp_path: Path) -> None:
    d = study_dict(tmp_path, teacher={"name": "resnet20", "checkpoint": str(tmp_path / "none.pt")})
    d["teacher_training"]["auto"] = False
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(d))
    assert_user_error(kdnas("search", str(path), cwd=tmp_path), "none.pt", "kdnas teacher train")


def test_space_show_counts(tmp_path: Path) -> None:
    proc = kdnas("space", "show", str(ROOT / "search_spaces" / "resnet.yaml"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "distinct architectures: 314,928" in proc.stdout


def test_profile_zoo_model_and_arch(tmp_path: Path) -> None:
    proc = kdnas("profile", "resnet20", "--repeats", "3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "MACs   41," in proc.stdout and "params 272," in proc.stdout and "ms median" in proc.stdout
    arch = "stem_c8-ir_s1_k3_e1_c8_d1-ir_s2_k3_e3_c16_d1-head_c0"
    proc = kdnas("profile", arch, "--input", "1,8,8", "--repeats", "3", cwd=tmp_path)
    assert proc.returncode == 0 and arch in proc.stdout
    assert_user_error(kdnas("profile", "not-a-model", cwd=tmp_path), "not-a-model")


def test_teacher_train_writes_checkpoint_with_metadata(tmp_path: Path) -> None:
    from kdnas.teachers import load_checkpoint

    path = write_study(tmp_path)
    out = tmp_path / "t.pt"
    proc = kdnas("teacher", "train", str(path), "--epochs", "1", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "val_acc" in proc.stdout and out.is_file()
    state, meta = load_checkpoint(out)
    assert meta["arch"] == "resnet20" and meta["data"] == "digits" and meta["epochs"] == 1
    assert 0.0 <= meta["val_acc"] <= 1.0 and len(meta["sha256"]) == 64 and meta["data_fingerprint"]
    assert state
