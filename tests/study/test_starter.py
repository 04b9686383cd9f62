"""`kdnas init` writes a study that loads, says what to change, and refuses to clobber or guess."""

from __future__ import annotations

from pathlib import Path

import yaml

from kdnas.study.config import load_study_config
from tests.test_cli import assert_user_error, kdnas


def test_init_writes_a_study_that_loads(tmp_path: Path) -> None:
    (tmp_path / "images" / "cat").mkdir(parents=True)
    (tmp_path / "teacher.pt").write_bytes(b"weights")
    proc = kdnas("init", "--data", "image_folder", "--data-root", "images", "--teacher", "mypkg.models:resnet",
                 "--checkpoint", "teacher.pt", "--out", "cats.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "cats.yaml").read_text()
    assert "# " in text and "kdnas search cats.yaml" in text  # comments say what to do next
    cfg = load_study_config(tmp_path / "cats.yaml")
    assert cfg.name == "cats" and cfg.teacher.name == "mypkg.models:resnet"
    assert cfg.data.root == (tmp_path / "images").resolve() and cfg.teacher.checkpoint == (tmp_path / "teacher.pt").resolve()
    assert cfg.space.name == "mbv2.yaml" and cfg.constraints.max_macs == 5_000_000
    # today's defaults: the file pins no proxy setting beyond method and steps
    assert set(yaml.safe_load(text)["proxy"]) == {"method", "steps"}


def test_init_refuses_to_overwrite_and_names_missing_inputs(tmp_path: Path) -> None:
    (tmp_path / "study.yaml").write_text("mine\n")
    assert_user_error(kdnas("init", "--data", "digits", "--teacher", "resnet20", cwd=tmp_path), "already exists", "--force")
    assert (tmp_path / "study.yaml").read_text() == "mine\n"
    assert_user_error(kdnas("init", "--data", "image_folder", "--data-root", "nope", "--teacher", "resnet20",
                            "--out", "b.yaml", cwd=tmp_path), "--data-root nope")
    assert_user_error(kdnas("init", "--data", "digits", "--teacher", "resnet999", "--out", "c.yaml", cwd=tmp_path),
                      "resnet999")
    assert not (tmp_path / "b.yaml").exists() and not (tmp_path / "c.yaml").exists()
    assert not list(tmp_path.glob("*.tmp"))


def test_init_without_a_checkpoint_has_the_teacher_trained(tmp_path: Path) -> None:
    assert kdnas("init", "--data", "digits", "--teacher", "resnet20", "--out", "d.yaml", cwd=tmp_path).returncode == 0
    cfg = load_study_config(tmp_path / "d.yaml")
    assert cfg.teacher.checkpoint is None and cfg.teacher_training.auto
