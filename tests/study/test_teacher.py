"""The study's teacher may see more of the training pool than the students (`teacher_training.max_train`)."""

from __future__ import annotations

from pathlib import Path

import torch

from kdnas.data import load_data
from kdnas.study.config import config_from_dict
from kdnas.study.teacher import checkpoint_path, default_checkpoint, teacher_data, train_teacher
from kdnas.teachers import load_checkpoint
from tests.studykit import study_dict


def _cfg(tmp: Path, teacher_n: int | None):
    d = study_dict(tmp)
    d["data"] = {**d["data"], "max_train": 300}
    d["teacher_training"] = {**d["teacher_training"], "epochs": 1, "max_train": teacher_n}
    return config_from_dict(d)


def test_teacher_sees_more_training_images_but_the_same_val_and_test(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, 1000)
    data = load_data(cfg.data)
    tdata = teacher_data(cfg, data)
    assert len(data.train.y) == 300 and len(tdata.train.y) == 1000
    assert torch.equal(tdata.val.x, data.val.x) and torch.equal(tdata.test.y, data.test.y)
    # Re-expressed in the study's statistics: a blank pixel (0) has the same value in both.
    assert torch.allclose(tdata.train.x.min(), data.train.x.min(), atol=1e-5)
    assert tdata.fingerprint == data.fingerprint


def test_default_teacher_is_the_study_split_and_is_named_apart(tmp_path: Path) -> None:
    same, more = _cfg(tmp_path, None), _cfg(tmp_path, 1000)
    data = load_data(same.data)
    assert teacher_data(same, data) is data
    assert default_checkpoint(same, data) != default_checkpoint(more, data)
    assert "-n1000-" in default_checkpoint(more, data).name


def test_trained_teacher_records_how_many_images_it_saw(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, 1000)
    data = load_data(cfg.data)
    out = tmp_path / "t.pt"
    meta = train_teacher(cfg, data, out, verbose=False)
    assert meta["train_samples"] == 1000
    assert load_checkpoint(out)[1]["train_samples"] == 1000


def _with(cfg, **training):  # noqa: ANN001, ANN202
    return cfg.model_copy(update={"teacher_training": cfg.teacher_training.model_copy(update=training)})


def test_a_teacher_trained_with_another_recipe_is_never_picked_up(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, None)
    data = load_data(cfg.data)
    longer, seeded = _with(cfg, epochs=30), cfg.model_copy(update={"seed": 1})
    assert len({default_checkpoint(c, data) for c in (cfg, longer, seeded)}) == 3
    assert default_checkpoint(_with(cfg, threads=1), data) == default_checkpoint(cfg, data)  # same weights
    # A teacher saved under the name used before the recipe was part of it is reused when it was
    # trained with the recipe asked for, and only then.
    earlier = default_checkpoint(cfg, data).with_name(default_checkpoint(cfg, data).name.rsplit("-", 1)[0] + ".pt")
    earlier.parent.mkdir(parents=True)
    train_teacher(cfg, data, earlier, verbose=False)
    assert checkpoint_path(cfg, data) == earlier
    assert checkpoint_path(_with(cfg, threads=1), data) == earlier
    assert checkpoint_path(longer, data) == default_checkpoint(longer, data) != earlier


def test_the_same_study_trains_the_same_teacher(tmp_path: Path) -> None:
    # whatever ran before in the process (here: the global RNG moved on), the teacher's initial
    # weights come from the study's seed, so two trainings give the same weights
    cfg = _cfg(tmp_path, 64)
    data = load_data(cfg.data)
    first = train_teacher(cfg, data, tmp_path / "a.pt", verbose=False)
    torch.rand(1000)
    assert train_teacher(cfg, data, tmp_path / "b.pt", verbose=False)["sha256"] == first["sha256"]
