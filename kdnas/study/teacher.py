"""The study's teacher: where its checkpoint lives, training it, loading it frozen."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from kdnas.data import DataBundle, load_data, with_train_from
from kdnas.distill.trainer import train
from kdnas.errors import CheckpointError
from kdnas.log import note, warn
from kdnas.paths import runs_dir
from kdnas.study.config import StudyConfig
from kdnas.teachers import (
    build_model,
    freeze,
    load_checkpoint,
    load_teacher,
    save_checkpoint,
    state_dict_sha256,
)


@dataclass(frozen=True)
class LoadedTeacher:
    """A frozen teacher with its identity (checkpoint hash) and metadata."""

    model: nn.Module
    checkpoint: Path
    sha256: str
    meta: dict


# Fields of `teacher_training` that do not change the trained weights (max_train is named apart).
_NOT_IN_RECIPE_KEY = {"threads", "eval_batch_size", "auto", "max_train"}


def _recipe(recipe: dict, seed: object) -> dict:
    return {**{k: v for k, v in recipe.items() if k not in _NOT_IN_RECIPE_KEY}, "seed": seed}


def recipe_key(cfg: StudyConfig) -> str:
    """Eight hex digits naming how the teacher is trained (`teacher_training` and the study seed)."""
    text = json.dumps(_recipe(cfg.teacher_training.model_dump(mode="json"), cfg.seed), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def default_checkpoint(cfg: StudyConfig, data: DataBundle) -> Path:
    """Where a study's teacher is kept when the config names no checkpoint: keyed by teacher, data and
    training recipe, so that a study asking for another recipe never picks up a teacher trained
    with this one (a 2-epoch teacher is not a 30-epoch one)."""
    return _teacher_file(cfg, data, f"-{recipe_key(cfg)}")


def _teacher_file(cfg: StudyConfig, data: DataBundle, suffix: str) -> Path:
    safe = cfg.teacher.name.replace(":", "_").replace(".", "_")
    more = f"-n{cfg.teacher_training.max_train}" if _sees_more(cfg) else ""
    return runs_dir() / "teachers" / f"{safe}-{data.name}-{data.fingerprint[:10]}{more}{suffix}.pt"


def _earlier_checkpoint(cfg: StudyConfig, data: DataBundle) -> Path | None:
    """A teacher saved under the name used before the recipe was part of it, when its recorded
    recipe is the one asked for (so it is reused, not trained again)."""
    old = _teacher_file(cfg, data, "")
    if not old.is_file():
        return None
    try:
        meta = load_checkpoint(old)[1]
    except CheckpointError:
        return None
    want = _recipe(cfg.teacher_training.model_dump(mode="json"), cfg.seed)
    return old if _recipe(meta.get("recipe") or {}, meta.get("seed")) == want else None


def _sees_more(cfg: StudyConfig) -> bool:
    n = cfg.teacher_training.max_train
    return n is not None and n != cfg.data.max_train


def teacher_data(cfg: StudyConfig, data: DataBundle) -> DataBundle:
    """What the teacher trains on: the study's data, or (`teacher_training.max_train`) a larger draw
    from the same training pool, normalised with the study's statistics because that is what the
    teacher will see when it teaches. Validation and test are the study's own either way."""
    if not _sees_more(cfg):
        return data
    more = load_data(cfg.data.model_copy(update={"max_train": cfg.teacher_training.max_train}))
    return with_train_from(data, more)


def checkpoint_path(cfg: StudyConfig, data: DataBundle) -> Path:
    """The checkpoint named in the config, or the default one (or an earlier name of the same teacher)."""
    if cfg.teacher.checkpoint:
        return cfg.teacher.checkpoint
    path = default_checkpoint(cfg, data)
    return path if path.is_file() else (_earlier_checkpoint(cfg, data) or path)


def _model_kwargs(data: DataBundle) -> dict:
    c, h, w = data.input_shape
    return {"num_classes": data.num_classes, "in_channels": c, "input_size": (h, w)}


def train_teacher(cfg: StudyConfig, data: DataBundle, out: Path, *, device: str = "cpu", verbose: bool = True) -> dict:
    """Train the study's teacher with `cfg.teacher_training` and save it with metadata; returns the meta.

    Seeded from the study's seed before the model is built, so its initial weights, and with them
    the whole run, are the same every time (on the CPU, bit for bit at the same thread count)."""
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.teacher, **_model_kwargs(data))

    def report(epoch: int, rec: dict) -> None:
        if verbose:
            note(f"  teacher epoch {rec['epoch']}/{cfg.teacher_training.epochs}: loss {rec['loss']:.4f} "
                 f"val {rec['val_acc']:.4f} ({rec['seconds']:.0f}s)")

    recipe = cfg.teacher_training
    tdata = teacher_data(cfg, data)
    result = train(model, tdata, recipe, seed=cfg.seed, device=device, on_epoch=report)
    meta = {
        "arch": cfg.teacher.name, "data": data.name, "data_fingerprint": data.fingerprint,
        "input_shape": list(data.input_shape), "num_classes": data.num_classes, "split_seed": cfg.data.seed,
        "val_fraction": cfg.data.val_fraction, "val_acc": result.val_acc, "epochs": recipe.epochs,
        "recipe": recipe.model_dump(mode="json"), "seed": cfg.seed, "train_samples": len(tdata.train.y),
    }
    meta["sha256"] = state_dict_sha256(model.cpu().state_dict())
    save_checkpoint(out, model, meta)
    return meta


def ensure_teacher(cfg: StudyConfig, data: DataBundle, *, device: str = "cpu") -> LoadedTeacher:
    """Load the study's teacher, training it first when the config allows (`teacher_training.auto`)."""
    path = checkpoint_path(cfg, data)
    if not path.is_file():
        if not cfg.teacher_training.auto:
            raise CheckpointError(
                f"teacher checkpoint {path} not found; train one with `kdnas teacher train STUDY.yaml` "
                "or set teacher_training.auto: true"
            )
        note(f"training teacher {cfg.teacher.name} on {data.name} -> {path}")
        train_teacher(cfg, data, path, device=device)
    state, meta = load_checkpoint(path)
    model = load_teacher(cfg.teacher, checkpoint=path, **_model_kwargs(data))
    fp = meta.get("data_fingerprint")
    if fp and fp != data.fingerprint:
        warn(f"warning: teacher {path} was trained on other data or another split ({fp[:10]} != "
             f"{data.fingerprint[:10]}); its validation accuracy may be optimistic")
    # The weights' hash identifies the teacher in every cache key, whoever made the file.
    sha = str(meta.get("sha256") or state_dict_sha256(state))
    return LoadedTeacher(freeze(model), path, sha, meta)
