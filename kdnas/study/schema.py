"""Versions of the stored study config, and the migrations that read an older one as today's.

A study stores its resolved config (the study attribute ``config``) with ``schema_version``; one
stored without it is version 1. Resuming or reporting a study reads the stored config through
`migrate`, so every older study is seen in today's shape. A migration step is a pure function
``step(config) -> (upgraded copy, one line saying what changed | None)``; registering one is one
append to the list of the version it upgrades from.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from kdnas.study.migrate_device import migrate_device
from kdnas.study.migrate_latency import migrate_latency_backend
from kdnas.study.migrate_proxy import migrate_proxy_advanced, migrate_retrain_ce_weight

SCHEMA_VERSION = 5
VERSION_KEY = "schema_version"

Migration = Callable[[dict], tuple[dict, str | None]]


def _section(config: dict, path: tuple[str, ...]) -> dict | None:
    """The dict that holds the field at `path`, or None where a section on the way is absent (a
    study whose proxy has no `blockwise` settings, say)."""
    for key in path[:-1]:
        config = config.get(key) if isinstance(config, dict) else None  # type: ignore[assignment]
    return config if isinstance(config, dict) else None


def _fill_absent(path: tuple[str, ...], old: object) -> Migration:
    """A step for a field added after studies were stored without it: such a study is read as
    having `old`, the value that reproduces how it ran."""

    def step(config: dict) -> tuple[dict, str | None]:
        out = copy.deepcopy(config)
        section = _section(out, path)
        if section is None or path[-1] in section:
            return out, None
        section[path[-1]] = copy.deepcopy(old)  # a dict value must not be shared between configs
        return out, f"{'.'.join(path)} absent -> {old}"

    step.__name__ = f"fill_{'_'.join(path)}"
    return step


def objectives_accuracy_to_score(config: dict) -> tuple[dict, str | None]:
    """The first objective was called `accuracy` but held the proxy's score (`proxy.score`): it is
    `score` now (the same values, maximised)."""
    out = copy.deepcopy(config)
    objs = out.get("objectives")
    if not isinstance(objs, list) or not objs or objs[0] != "accuracy":
        return out, None
    out["objectives"] = ["score", *objs[1:]]
    return out, "objectives[0] accuracy -> score"


MIGRATIONS_1_TO_2: list[Migration] = [
    _fill_absent(("proxy", "bn_recalibration"), 0),
    _fill_absent(("proxy", "score"), "accuracy"),
    _fill_absent(("proxy", "blockwise", "score"), "loss"),
    objectives_accuracy_to_score,
    migrate_device,  # after the fills: they are device-independent, but the order is the rule
]
# Version 3: the proxy's expert fields under `proxy.advanced` (and `proxy.blockwise.advanced`), one
# KD-weight convention in the retrain recipe (`ce_weight` gone). Runs after 1 -> 2, whose fills write
# the old flat places that these steps then move. `latency.backend` was added (default onnxruntime;
# torch eager before).
MIGRATIONS_2_TO_3: list[Migration] = [migrate_proxy_advanced, migrate_retrain_ce_weight, migrate_latency_backend]
# Version 4: settings added after version 3 shipped (each a fill with the value that reproduces how a
# version-3 study ran); one append per field.
MIGRATIONS_3_TO_4: list[Migration] = [
    _fill_absent(("search",), {"strategy": "plain", "min_steps": 30, "eta": 3}),  # every student got the whole run
    # trials ran one at a time in the driver's process, in float32 everywhere
    _fill_absent(("executor", "workers_per_device"), 1),
    _fill_absent(("executor", "advanced"),
                 {"amp": False, "channels_last": False, "cudnn_benchmark": False, "memory_fraction": None}),
    _fill_absent(("latency", "mode"), "measured"),  # every version-3 study timed each student
]
# Version 5: settings added after version 4 shipped, the same way.
MIGRATIONS_4_TO_5: list[Migration] = [
    _fill_absent(("search", "screen"), "none"),  # every sampled student entered the first rung (or the whole run)
]
# The steps that upgrade a config of each version to the next one.
MIGRATIONS: dict[int, list[Migration]] = {1: MIGRATIONS_1_TO_2, 2: MIGRATIONS_2_TO_3, 3: MIGRATIONS_3_TO_4,
                                          4: MIGRATIONS_4_TO_5}


def version_of(config: dict) -> int:
    """The schema version a stored config was written with (1 when it does not say)."""
    return int(config.get(VERSION_KEY, 1))


def migrate(config: dict) -> tuple[dict, list[str]]:
    """`config` (a stored resolved config) upgraded to `SCHEMA_VERSION`, and a line per change.

    Pure: the argument is left as it was. An empty config (a study made without kdnas) stays empty.
    """
    out = copy.deepcopy(config)
    if not out:
        return out, []
    notes: list[str] = []
    version = version_of(out)
    if version > SCHEMA_VERSION:
        return out, []  # written by a newer kdnas: left alone; comparing it says what differs
    while version < SCHEMA_VERSION:
        for step in MIGRATIONS[version]:
            out, note = step(out)
            if note:
                notes.append(note)
        version += 1
    out[VERSION_KEY] = SCHEMA_VERSION
    return out, notes
