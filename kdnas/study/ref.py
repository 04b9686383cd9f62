"""What STUDY means on the command line: a study's YAML file, or its name.

A name is looked up in the storage given with `--storage`, else in every SQLite storage in the
runs folder (the default `kdnas.db` and any other `*.db` a study named); the config comes from the
storage, which keeps each study's resolved config. A name found nowhere may still be a shipped
example study (`kdnas search demo-digits`). Every command that takes a study reads it through
`resolve_study`, so they all agree.
"""

from __future__ import annotations

import json
from pathlib import Path

import optuna

from kdnas.catalog import looks_like_path, shipped_studies
from kdnas.errors import ConfigError, UserError
from kdnas.paths import default_storage_url, runs_dir
from kdnas.study import records as R
from kdnas.study.config import StudyConfig, config_from_dict, load_study_config
from kdnas.study.schema import VERSION_KEY, migrate
from kdnas.study.storage import study_exists


def candidate_storages(storage: str | None = None) -> list[str]:
    """Where a study name is looked for: `storage` alone when given, else the runs folder's SQLite files."""
    if storage is not None:
        return [storage]
    default = default_storage_url()
    others = sorted(f"sqlite:///{p}" for p in runs_dir().glob("*.db") if p.is_file())
    return [default] + [u for u in others if u != default]


def find_stored(name: str, storage: str | None = None) -> str | None:
    """The storage URL that holds study `name` (None when none does; an error when two do)."""
    urls = [u for u in candidate_storages(storage) if study_exists(u, name)]
    if len(urls) > 1:
        raise UserError(f"study '{name}' is in {len(urls)} storages ({', '.join(urls)}); choose one with --storage")
    return urls[0] if urls else None


def stored_config(url: str, name: str) -> StudyConfig:
    """The config study `name` was stored with, pointed at the storage it was found in."""
    study = optuna.load_study(study_name=name, storage=url)
    raw = study.user_attrs.get(R.STUDY_CONFIG)
    if raw is None:
        raise UserError(f"study '{name}' in {url} has no stored config (not made by kdnas?); give its YAML file")
    stored, _ = migrate(json.loads(raw))  # an older kdnas's study is read in today's shape
    stored.pop(VERSION_KEY, None)
    data = {**stored, "storage": url}
    return config_from_dict(data, source=f"the stored config of study '{name}' in {url}")


def locate_study(ref: str, storage: str | None = None) -> tuple[str, str]:
    """(storage URL, study name) of the study `ref` names, for commands that only read the storage
    (report, show): a stored config need not validate to be reported."""
    if Path(ref).expanduser().is_file() or looks_like_path(ref):
        cfg = resolve_study(ref, storage)
        return cfg.storage_url, cfg.name
    url = find_stored(ref, storage)
    if url is None:
        raise _not_found(ref, storage)
    return url, ref


def _not_found(ref: str, storage: str | None, hint: str = "") -> UserError:
    return UserError(f"no study named '{ref}' in {', '.join(candidate_storages(storage))} "
                     f"(give the study's YAML file, or its storage with --storage){hint}")


def resolve_study(ref: str, storage: str | None = None, *, allow_shipped: bool = False) -> StudyConfig:
    """The study `ref` names: a YAML file, a stored study's name, or (with `allow_shipped`, for
    `kdnas search`) a shipped example study's name. `storage` overrides where it lives."""
    path = Path(ref).expanduser()
    if path.is_file() or looks_like_path(ref):
        if not path.is_file():
            raise ConfigError(f"{ref}: study file not found")
        cfg = load_study_config(path)
        return cfg.model_copy(update={"storage": storage}) if storage is not None else cfg
    url = find_stored(ref, storage)
    if url is not None:
        return stored_config(url, ref)
    shipped = shipped_studies()
    if allow_shipped and ref in shipped:
        cfg = load_study_config(shipped[ref])
        return cfg.model_copy(update={"storage": storage}) if storage is not None else cfg
    raise _not_found(ref, storage, f"; shipped examples: {', '.join(sorted(shipped))}" if allow_shipped and shipped else "")
