"""`kdnas search` as one library call: load config, prepare, run, write the front."""

from __future__ import annotations

from pathlib import Path

from kdnas.execute import make_executor
from kdnas.study.config import StudyConfig, load_study_config
from kdnas.study.runner import SearchSummary, run_search
from kdnas.study.setup import SearchSetup, prepare
from kdnas.study.storage import check_resumable


def merge(base: dict, overrides: dict) -> dict:
    """`overrides` on top of `base`, section by section (`--trials` keeps the budget's other fields)."""
    out = dict(base)
    for k, v in overrides.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_and_prepare(study: Path | StudyConfig, overrides: dict | None = None, *, verbose: bool = True) -> SearchSetup:
    """Validate the study (a file, or a config already read: `kdnas.study.ref`) plus CLI overrides,
    and prepare everything; touches no study."""
    cfg = study if isinstance(study, StudyConfig) else load_study_config(study)
    if overrides:
        cfg = StudyConfig.model_validate(merge(cfg.model_dump(), overrides))
    check_resumable(cfg)  # a mismatched re-run must fail before anything is written
    return prepare(cfg, verbose=verbose)


def search(study: Path | StudyConfig, overrides: dict | None = None, *,
           progress: bool = True) -> tuple[SearchSetup, SearchSummary]:
    """Run (or continue) the study (a file or a config) up to its budget."""
    setup = load_and_prepare(study, overrides)
    summary = run_search(setup, make_executor(setup.cfg.executor), progress=progress)
    return setup, summary
