"""Where kdnas keeps runs and caches (all under one git-ignored folder by default)."""

from __future__ import annotations

import os
from pathlib import Path


def runs_dir() -> Path:
    """Folder for studies' SQLite files, checkpoints and caches: $KDNAS_RUNS or ./runs."""
    return Path(os.environ.get("KDNAS_RUNS", "runs"))


def reports_dir() -> Path:
    """Folder for report pages and tables: $KDNAS_REPORTS or ./reports."""
    return Path(os.environ.get("KDNAS_REPORTS", "reports"))


def default_storage_url() -> str:
    """The Optuna storage of a study that names none: one SQLite file in the runs folder."""
    return f"sqlite:///{runs_dir() / 'kdnas.db'}"


def cache_dir() -> Path:
    """Folder for derived data that can be rebuilt (decoded images, teacher outputs)."""
    return runs_dir() / "cache"


def data_dir(name: str) -> Path:
    """Default data directory of data set `name`: $KDNAS_DATA_DIR/name, else runs/data/name."""
    root = os.environ.get("KDNAS_DATA_DIR")
    return Path(root) / name if root else runs_dir() / "data" / name
