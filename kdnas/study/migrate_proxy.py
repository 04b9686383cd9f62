"""Stored study configs: the proxy's expert settings moved under `proxy.advanced`.

Schema version 1 kept every proxy setting at the top of `proxy` (and of `proxy.blockwise`); from
version 2 the settings a user seldom turns live under `proxy.advanced` (`ProxyAdvanced`) and
`proxy.blockwise.advanced` (`BlockwiseAdvanced`). `migrate_proxy_advanced` moves a stored
resolved config's fields to their new places, values unchanged, so a study stored before resumes
and reports as it ran. It is a pure function, one step of `kdnas.study.schema`'s migrations.
"""

from __future__ import annotations

import copy

#: Fields that moved, by section: (path of the section, fields moved under its `advanced`).
MOVED: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("proxy",), ("score", "bn_recalibration", "eval_batch_size", "momentum", "weight_decay")),
    (("proxy", "blockwise"), ("score", "include_stem_head", "val_samples")),
)


def migrate_proxy_advanced(config: dict) -> tuple[dict, str | None]:
    """`config` (a stored resolved study config) with the proxy's expert fields under `advanced`,
    as an upgraded copy, and one line saying what moved (None when nothing did: a config already
    in the new shape, or one without those sections). A value already under `advanced` wins over
    a stale one beside it."""
    out = copy.deepcopy(config)
    moved: list[str] = []
    for path, fields in MOVED:
        section = _section(out, path)
        if section is None:
            continue
        for name in fields:
            if name in section:
                section.setdefault("advanced", {}).setdefault(name, section.pop(name))
                moved.append(".".join((*path, name)))
    if not moved:
        return out, None
    return out, f"moved {', '.join(moved)} under their section's 'advanced'"


def _section(config: dict, path: tuple[str, ...]) -> dict | None:
    for key in path:
        config = config.get(key) if isinstance(config, dict) else None
    return config if isinstance(config, dict) else None
