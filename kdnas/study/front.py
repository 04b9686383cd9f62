"""Trials of a study as a table, and the Pareto front of its feasible, trained trials (with successive
halving: those of the top rung)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from kdnas.pareto import non_dominated_mask
from kdnas.study import records as R
from kdnas.study.budget import was_trained


def _score(ua: dict) -> float | None:
    """What ranked a trial; studies stored before `proxy.advanced.score` existed ranked by the accuracy."""
    return ua.get(R.SCORE, ua.get(R.VAL_ACC))


def is_trained(t: FrozenTrial) -> bool:
    """A complete trial whose student was trained for the whole proxy run: feasible, not a duplicate
    (status ok), not a result of a rung below the top (successive halving), whose score no full-run
    score can be compared with."""
    return t.state == TrialState.COMPLETE and t.user_attrs.get(R.STATUS) == R.STATUS_OK \
        and not t.user_attrs.get(R.BELOW_TOP)


def front_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Non-dominated trials among the feasible, trained ones (a duplicate architecture counted once)."""
    return front_of(study.get_trials(deepcopy=False), study.directions)


def front_of(all_trials: Sequence[FrozenTrial], dirs: Sequence[optuna.study.StudyDirection]) -> list[FrozenTrial]:
    """`front_trials` over trials already read (pure: lets a report read the storage once)."""
    trials = [t for t in all_trials if is_trained(t)]
    if not trials:
        return []
    pts = np.array([[-v if d == optuna.study.StudyDirection.MAXIMIZE else v for v, d in zip(t.values, dirs)]
                    for t in trials])
    mask = non_dominated_mask(pts)
    return sorted((t for t, m in zip(trials, mask) if m), key=lambda t: t.values[1])


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, status, architecture, accuracy, score, costs, timings, reason,
    and whether a student was trained (took a budget place)."""
    return trials_frame_of(study.get_trials(deepcopy=False))


def trials_frame_of(trials: Sequence[FrozenTrial]) -> pd.DataFrame:
    """`trials_frame` over trials already read."""
    rows = []
    for t in trials:
        ua = t.user_attrs
        metrics = ua.get(R.METRICS) or {}
        rows.append({
            "trial": t.number, "state": t.state.name, "status": ua.get(R.STATUS, t.state.name.lower()),
            "arch": ua.get(R.ARCH), "val_acc": ua.get(R.VAL_ACC), "score": _score(ua), "macs": ua.get(R.MACS),
            "params": ua.get(R.PARAMS), "latency_ms": ua.get(R.LATENCY_MS), "wall_s": ua.get(R.WALL_S),
            "train_s": metrics.get("train_s"), "reason": ua.get(R.REASON),
            "duplicate_of_arch": ua.get(R.STATUS) == R.STATUS_DUPLICATE, "trained": was_trained(t),
            "started": t.datetime_start, "finished": t.datetime_complete,
            # successive halving: the rung's proxy steps, and whether that is short of the whole run
            "rung_steps": ua.get(R.RUNG_STEPS), "below_top": bool(ua.get(R.BELOW_TOP)),
        })
    return pd.DataFrame(rows, columns=["trial", "state", "status", "arch", "val_acc", "score", "macs", "params", "latency_ms",
                                       "wall_s", "train_s", "reason", "duplicate_of_arch", "trained", "started", "finished",
                                       "rung_steps", "below_top"])


def front_frame(study: optuna.Study) -> pd.DataFrame:
    """The Pareto front as a table, cheapest first; one row per distinct architecture."""
    return front_frame_of(study.get_trials(deepcopy=False), study.directions)


def front_frame_of(trials: Sequence[FrozenTrial], dirs: Sequence[optuna.study.StudyDirection]) -> pd.DataFrame:
    """`front_frame` over trials already read."""
    rows = [{"trial": t.number, "arch": t.user_attrs[R.ARCH], "val_acc": t.user_attrs[R.VAL_ACC],
             "score": _score(t.user_attrs), "macs": t.user_attrs[R.MACS], "params": t.user_attrs[R.PARAMS],
             "latency_ms": t.user_attrs.get(R.LATENCY_MS)} for t in front_of(trials, dirs)]
    df = pd.DataFrame(rows, columns=["trial", "arch", "val_acc", "score", "macs", "params", "latency_ms"])
    return df.drop_duplicates(subset="arch", keep="first").reset_index(drop=True)
