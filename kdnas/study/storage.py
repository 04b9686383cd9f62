"""Optuna study creation and loading: storage, sampler, directions, constraints, resume checks."""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path

import optuna
import sqlalchemy
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages._heartbeat import is_heartbeat_enabled
from optuna.trial import FrozenTrial, TrialState

from kdnas.errors import ConfigError, UserError
from kdnas.log import note
from kdnas.study import records as R
from kdnas.study.config import StudyConfig
from kdnas.study.schema import migrate

# Fields that may change between runs of one study without changing what it means (`device`: where
# it runs; `auto` resolves differently on different machines, and each trial records what it ran on).
_RESUMABLE_FIELDS = {"budget", "storage", "storage_heartbeat_s", "executor", "device", "description", "retrain"}
# Heartbeat interval on a database server (several drivers may share it); SQLite: off.
DEFAULT_SERVER_HEARTBEAT_S = 30


def make_sampler(cfg: StudyConfig, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The sampler named in the config, seeded (by default with the study's seed).

    Constraints reach TPE and NSGA-II through `Trial.set_constraint` (Optuna >= 5), which the
    driver calls before `tell`; no constraints function is needed.
    """
    s = cfg.sampler
    seed = cfg.seed if seed is None else seed
    if s.name == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed, multivariate=True, n_startup_trials=s.n_startup_trials
        )
    if s.name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=s.population_size)
    return optuna.samplers.RandomSampler(seed=seed)


def directions(cfg: StudyConfig) -> list[str]:
    """The score is maximised, every cost minimised."""
    return ["maximize" if o == "score" else "minimize" for o in cfg.objectives]


def ensure_storage_dir(url: str) -> None:
    """Create the folder of a SQLite file so a fresh clone needs no set-up step."""
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)


def _comparable(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in _RESUMABLE_FIELDS}


def _leaf_diffs(stored: object, current: object, path: str = "") -> list[str]:
    """'proxy.lr: 0.1 in the stored study, 0.05 now' for every field that differs (a default that
    changed since the study was stored shows up here with the value that continues it)."""
    if isinstance(stored, dict) and isinstance(current, dict):
        return [d for k in sorted(set(stored) | set(current), key=str)
                for d in _leaf_diffs(stored.get(k), current.get(k), f"{path}.{k}" if path else str(k))]
    return [] if stored == current else [f"{path}: {stored} in the stored study, {current} now"]


def _mismatch(stored: dict, current: dict) -> str | None:
    """Why a study stored with `stored` (migrated) cannot continue with `current`, or None."""
    if _comparable(stored) == _comparable(current):
        return None
    diffs = _leaf_diffs(_comparable(stored), _comparable(current))
    shown = "; ".join(diffs[:6]) + (f"; {len(diffs) - 6} more" if len(diffs) > 6 else "")
    return f"{shown}: set these in the config to continue this study"


def stored_config(study: optuna.Study) -> tuple[dict, list[str]]:
    """The study's stored resolved config, migrated to this version's shape, and what changed."""
    raw = study.user_attrs.get(R.STUDY_CONFIG)
    return migrate(json.loads(raw) if raw else {})


def _schema_race_safe(fn, attempts: int = 5):  # noqa: ANN001, ANN202
    """Call `fn`, retrying when another driver is creating the same database schema right now
    (two drivers starting on an empty PostgreSQL database both try to create the tables)."""
    for i in range(attempts):
        try:
            return fn()
        except Exception as err:  # noqa: BLE001 - sqlalchemy's IntegrityError / ProgrammingError
            racing = type(err).__name__ in {"IntegrityError", "ProgrammingError", "DuplicatedStudyError"} or \
                "already exists" in str(err)
            if not racing or i == attempts - 1:
                raise
            time.sleep(0.5 * (i + 1))
    raise AssertionError("unreachable")


def study_exists(url: str, name: str) -> bool:
    """Whether `name` is a study in the storage at `url` (does not create the storage)."""
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).is_file():
        return False
    try:
        return _schema_race_safe(lambda: any(s.study_name == name for s in optuna.get_all_study_summaries(storage=url)))
    except Exception as err:  # noqa: BLE001 - a bad URL or server is the user's to fix
        raise UserError(f"cannot open storage '{url}': {type(err).__name__}: {str(err).splitlines()[0]}") from None


def check_resumable(cfg: StudyConfig) -> bool:
    """True when the study already exists; raises when it exists with a different config.

    Called before anything is written, so a mismatched re-run changes nothing stored.
    """
    url = cfg.storage_url
    if not study_exists(url, cfg.name):
        return False
    _check_same(optuna.load_study(study_name=cfg.name, storage=url), cfg)
    return True


def _check_same(study: optuna.Study, cfg: StudyConfig) -> tuple[dict, list[str]]:
    """The study's stored config (migrated) and what the migration changed; raises when it does not
    match `cfg` in what the study means."""
    stored, notes = stored_config(study)
    current = json.loads(json.dumps(cfg.resolved()))
    why = _mismatch(stored, current) if stored else None
    if why:
        diff = sorted(k for k in set(stored) | set(current) if k not in _RESUMABLE_FIELDS and stored.get(k) != current.get(k))
        raise ConfigError(
            f"study '{cfg.name}' already exists in {cfg.storage_url} with a different config (fields: {', '.join(diff)})"
            f" [{why}]; give the study a new name or restore the old config"
        )
    return stored, notes


def heartbeat_s(cfg: StudyConfig) -> int | None:
    """The trial heartbeat interval in seconds, or None when heartbeats are off."""
    if cfg.storage_heartbeat_s is not None:
        return cfg.storage_heartbeat_s or None
    return None if cfg.storage_url.startswith("sqlite") else DEFAULT_SERVER_HEARTBEAT_S


def make_storage(cfg: StudyConfig) -> str | optuna.storages.BaseStorage:
    """The storage URL, or an RDB storage with heartbeats where several drivers may share it.

    A trial whose driver stopped beating for `2 * heartbeat` seconds is stale: the next driver
    that looks (`recover_orphans`) fails it and re-queues its architecture.
    """
    url = cfg.storage_url
    beat = heartbeat_s(cfg)
    beats = {} if beat is None else {
        "heartbeat_interval": beat, "grace_period": 2 * beat, "heartbeat_stale_trial_callback": requeue_failed}
    if not url.startswith("sqlite"):
        return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True}, **beats) if beats else url
    storage = optuna.storages.RDBStorage(url, **beats)
    sqlalchemy.event.listen(storage.engine, "connect", _sqlite_wal)
    storage.engine.dispose()  # the connection that created the schema goes; new ones get the pragmas
    return storage


def _sqlite_wal(dbapi_connection, _record) -> None:  # noqa: ANN001 - SQLAlchemy's connect event
    # Write-ahead log with synchronous=NORMAL: a commit no longer waits for two fsyncs, which halves
    # the driver's time per trial (Optuna commits every suggested parameter), and a committed trial
    # still survives the process being killed (only an OS crash or power loss can lose the last
    # commits). WAL needs a local file system, as SQLite with several writers always has.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def open_study(cfg: StudyConfig) -> optuna.Study:
    """Create the study (recording its resolved config) or load it to continue."""
    url = cfg.storage_url
    ensure_storage_dir(url)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Several drivers on one study must not draw the same sequence of students: each gets its own
    # seed (one driver stays reproducible from the study's seed).
    seed = cfg.seed if heartbeat_s(cfg) is None else cfg.seed + os.getpid()
    study = _schema_race_safe(lambda: optuna.create_study(
        storage=make_storage(cfg), study_name=cfg.name, directions=directions(cfg), sampler=make_sampler(cfg, seed),
        load_if_exists=True,
    ))
    if R.STUDY_CONFIG not in study.user_attrs:
        study.set_user_attr(R.STUDY_CONFIG, json.dumps(cfg.resolved()))
    else:
        stored, notes = _check_same(study, cfg)  # raises before anything is written
        if notes:
            note(f"kdnas: study {cfg.name} was stored by an older kdnas: {'; '.join(notes)}")
        if stored != json.loads(study.user_attrs[R.STUDY_CONFIG]):  # it matched: store it as today's kdnas would
            study.set_user_attr(R.STUDY_CONFIG, json.dumps(stored))
    # Names shown by Optuna, optuna-dashboard and anything reading the storage (set on every open:
    # studies stored before they existed get them too).
    with warnings.catch_warnings():  # experimental in Optuna 5 (since 3.2), and what the dashboard shows
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(cfg.objectives))
    return study


def load_existing(url: str, name: str) -> optuna.Study:
    """Load a study for reading (reports); a missing study is a user error."""
    if not study_exists(url, name):
        raise UserError(f"no study named '{name}' in {url}")
    return optuna.load_study(study_name=name, storage=url)


def requeue_failed(study: optuna.Study, trial: FrozenTrial | optuna.Trial) -> None:
    """Queue the architecture of a failed trial again (Optuna's stale-trial callback).

    Only a trial whose architecture was fully sampled (its ``arch`` attribute is set after the
    last parameter) is re-queued: a driver killed in the middle of sampling leaves a partial
    parameter set, and enqueueing that would let the sampler fill in a different architecture.
    """
    if trial.params and R.ARCH in trial.user_attrs:
        # a rung of successive halving is retried as the same student at the same rung
        rung = {k: trial.user_attrs[k] for k in (R.ARCH, *R.RUNG_ATTRS) if k in trial.user_attrs} \
            if R.RUNG in trial.user_attrs else {}
        study.enqueue_trial(trial.params, user_attrs={R.RETRY_OF: trial.number, **rung}, skip_if_exists=False)


def recover_orphans(study: optuna.Study) -> list[int]:
    """Fail trials left RUNNING by a driver that died, and re-queue their architectures.

    Returns the numbers of the trials failed. Without heartbeats every RUNNING trial is an
    orphan (one driver per study). With heartbeats only stale trials are: another live driver's
    trials keep beating and are left alone. When two drivers claim the same trial, the storage's
    state change lets exactly one of them win, and only the winner re-queues it.
    """
    storage = study._storage
    running = {t._trial_id: t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    if is_heartbeat_enabled(storage):
        ids = [i for i in storage._get_stale_trial_ids(study._study_id) if i in running]  # type: ignore[attr-defined]
    else:
        ids = list(running)
    failed = []
    for trial_id in ids:
        t = running[trial_id]
        try:
            storage.set_trial_user_attr(trial_id, R.STATUS, R.STATUS_FAILED)
            storage.set_trial_user_attr(trial_id, R.REASON, f"{R.INTERRUPTED}: the search stopped during this trial")
            if not storage.set_trial_state_values(trial_id, TrialState.FAIL):
                continue
        except UpdateFinishedTrialError:
            continue  # another driver recovered (or finished) it first
        requeue_failed(study, t)
        failed.append(t.number)
    return failed


def heartbeat_enabled(study: optuna.Study) -> bool:
    """Whether this study's storage records trial heartbeats (several drivers may share it)."""
    return is_heartbeat_enabled(study._storage)
