"""Helpers to write a tiny, fast study on digits for tests."""

from __future__ import annotations

from pathlib import Path

import yaml

TINY_SPACE = {
    "name": "tiny",
    "stem": [4, 8],
    "stages": [
        {"stride": 1, "op": ["ir", "dws"], "kernel": [3], "expand": [1, 2], "width": [4, 8], "depth": [1]},
        {"stride": 2, "op": ["ir", "basic"], "kernel": [3], "expand": [2], "width": [8, 16], "depth": [1]},
        {"stride": 2, "op": ["ir", "dws"], "kernel": [3], "expand": [2], "width": [16, 24], "depth": [1]},
    ],
    "head": [0],
}


def study_dict(tmp: Path, **over) -> dict:
    """A small, fast study on digits; `over` replaces top-level fields."""
    space = tmp / "tiny.yaml"
    if not space.exists():
        space.write_text(yaml.safe_dump(TINY_SPACE))
    cfg = {
        "name": "tiny-study",
        "seed": 0,
        "data": {"name": "digits", "val_fraction": 0.2, "seed": 0},
        "teacher": {"name": "resnet20"},
        "teacher_training": {"auto": True, "epochs": 2, "batch_size": 128, "lr": 0.05, "threads": 2},
        "space": str(space),
        "proxy": {"method": "kd", "steps": 15, "batch_size": 64, "optimizer": "sgd", "lr": 0.05},
        "objectives": ["score", "macs"],
        "budget": {"trials": 6},
        "storage": f"sqlite:///{tmp / 'study.db'}",
        "sampler": {"name": "tpe", "n_startup_trials": 3},
    }
    cfg.update(over)
    return cfg


def write_study(tmp: Path, name: str = "study.yaml", **over) -> Path:
    """Write a study file into `tmp` and return its path."""
    path = tmp / name
    path.write_text(yaml.safe_dump(study_dict(tmp, **over)))
    return path


