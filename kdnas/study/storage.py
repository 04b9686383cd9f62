"""Optuna study creation and loading: storage, sampler, directions, constraints, resume checks."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import optuna
import sqlalchemy
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages._heartbeat import is_heartbeat_enabled
from optuna.trial import FrozenTrial, TrialState

from kdnas.errors import ConfigError, UserError
from kdnas.study import records as R
from kdnas.study.config import StudyConfig
from kdnas.study.migrate_proxy import migrate_proxy_advanced

# Fields that may change between runs of one study without changing what it means.
_RESUMABLE_FIELDS = {"budget", "storage", "storage_heartbeat_s", "executor", "description"}
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
    """Accuracy is maximised, every cost minimised."""
    return ["maximize" if o == "accuracy" else "minimize" for o in cfg.objectives]


def ensure_storage_dir(url: str) -> None:
    """Create the folder of a SQLite file so a fresh clone needs no set-up step."""
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)


# Fields added after studies were stored without them: their path (section, ..., field) -> the value
# that reproduces how those studies ran. A stored study lacking the field is read as having it.
_ADDED_FIELDS = {("proxy", "advanced", "bn_recalibration"): 0, ("proxy", "advanced", "score"): "accuracy",
                 ("proxy", "blockwise", "advanced", "score"): "loss"}
# Fields whose default changed. Studies are stored with every default filled in, so one stored under
# the old default holds it; a config that relies on the default no longer matches it, and the
# refusal names these fields with the value that continues the study.
_CHANGED_DEFAULTS = (("proxy", "optimizer"), ("proxy", "lr"), ("proxy", "advanced", "score"),
                     ("proxy", "advanced", "bn_recalibration"))


def _comparable(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in _RESUMABLE_FIELDS}


def _section(config: dict, path: tuple[str, ...]) -> dict | None:
    """The dict that holds the field at `path` (None where a section on the way is absent: a
    study whose proxy has no `blockwise` settings, say)."""
    for key in path[:-1]:
        config = config.get(key) if isinstance(config, dict) else None
    return config if isinstance(config, dict) else None


def _with_added_fields(stored: dict) -> dict:
    """`stored` as this version would have written it: fields added since are filled with the value
    that reproduces the stored study's behaviour."""
    out = json.loads(json.dumps(stored))
    for path, old in _ADDED_FIELDS.items():
        section = _section(out, path)
        if section is not None and path[-1] not in section:
            section[path[-1]] = old
    return out


def _added_field_hint(stored: dict, current: dict) -> str:
    hints = []
    for path in dict.fromkeys([*_ADDED_FIELDS, *_CHANGED_DEFAULTS]):
        was, now = _section(stored, path), _section(current, path)
        if was is not None and now is not None and was.get(path[-1]) != now.get(path[-1]):
            hints.append(f"{'.'.join(path)}: {was.get(path[-1])} in the stored study, {now.get(path[-1])} now")
    return f" [{'; '.join(hints)}: set it in the config to continue this study]" if hints else ""


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
    study = optuna.load_study(study_name=cfg.name, storage=url)
    # until kdnas.study.schema upgrades stored configs: the proxy's expert fields under `advanced`
    stored = _with_added_fields(migrate_proxy_advanced(json.loads(study.user_attrs.get(R.STUDY_CONFIG, "{}")))[0])
    current = json.loads(json.dumps(cfg.resolved()))
    if stored and _comparable(stored) != _comparable(current):
        diff = sorted(k for k in set(stored) | set(current) if k not in _RESUMABLE_FIELDS and stored.get(k) != current.get(k))
        raise ConfigError(
            f"study '{cfg.name}' already exists in {url} with a different config (fields: {', '.join(diff)})"
            f"{_added_field_hint(stored, current)}; give the study a new name or restore the old config"
        )
    return True


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
    return study


def load_existing(url: str, name: str) -> optuna.Study:
    """Load a study for reading (reports); a missing study is a user error."""
    if not study_exists(url, name):
        raise UserError(f"no study named '{name}' in {url}")
    return optuna.load_study(study_name=name, storage=url)


def requeue_failed(study: optuna.Study, trial: FrozenTrial) -> None:
    """Queue the architecture of a failed trial again (Optuna's stale-trial callback).

    Only a trial whose architecture was fully sampled (its ``arch`` attribute is set after the
    last parameter) is re-queued: a driver killed in the middle of sampling leaves a partial
    parameter set, and enqueueing that would let the sampler fill in a different architecture.
    """
    if trial.params and R.ARCH in trial.user_attrs:
        study.enqueue_trial(trial.params, user_attrs={R.RETRY_OF: trial.number}, skip_if_exists=False)


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
            storage.set_trial_user_attr(trial_id, R.REASON, "interrupted: the search stopped during this trial")
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
