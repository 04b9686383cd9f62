"""Stored study configs: the proxy's expert settings moved under `proxy.advanced`.

Schema version 1 kept every proxy setting at the top of `proxy` (and of `proxy.blockwise`); from
version 2 the settings a user seldom turns live under `proxy.advanced` (`ProxyAdvanced`) and
`proxy.blockwise.advanced` (`BlockwiseAdvanced`). `migrate_proxy_advanced` moves a stored
resolved config's fields to their new places, values unchanged, so a study stored before resumes
and reports as it ran. `migrate_retrain_ce_weight` drops the stored retrain recipe's
`distill.ce_weight` where it meant what `alpha` now says alone (the CE weight is 1 - alpha). Both
are pure functions, steps of `kdnas.study.schema`'s migrations.
"""

from __future__ import annotations

import copy

from pydantic import ValidationError

from kdnas.distill.spec import DistillSpec

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


def migrate_retrain_ce_weight(config: dict) -> tuple[dict, str | None]:
    """`config` with `retrain.distill.ce_weight` dropped where it was None or 1 - alpha (the same
    recipe under one convention), as an upgraded copy, and one line saying so (None when there was
    nothing to drop). Any other weight trained something the recipe can no longer say: it is left
    for `DistillSpec` to refuse, with what to write instead, when the recipe is used."""
    out = copy.deepcopy(config)
    distill = _section(out, ("retrain", "distill"))
    if distill is None or "ce_weight" not in distill:
        return out, None
    try:
        DistillSpec.model_validate(distill)  # reads a ce_weight only where it meant 1 - alpha
    except ValidationError:
        return out, None
    ce = distill.pop("ce_weight")
    return out, f"dropped retrain.distill.ce_weight {ce} (the cross-entropy weight is 1 - alpha)"


def _section(config: dict, path: tuple[str, ...]) -> dict | None:
    for key in path:
        config = config.get(key) if isinstance(config, dict) else None
    return config if isinstance(config, dict) else None
