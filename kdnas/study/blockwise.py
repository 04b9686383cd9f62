"""`proxy.method: blockwise` in a study: build (or load) the block table, score the whole space from
it, and enqueue the picked architectures as the study's trials, which the ordinary search loop then
confirms with the end-to-end `kd` proxy and records like any other study's (so `kdnas report` and
`kdnas show` work unchanged). Each enqueued trial carries its block-wise loss as a user attribute.

MAC, parameter and latency limits are applied while picking, all vectorised: latency from the space's
latency table (`kdnas.cost.latency_table`), which the study builds whenever it needs latency; the
front is (block-wise loss, predicted latency) with a latency objective, else (loss, MACs). Where
`latency.mode` times students (`measured`, `table_then_measure`), each pick is timed whole before it
is enqueued, by the study's cost model (which remembers it for the search loop): a pick measured
over `max_latency_ms` is dropped and the next-ranked feasible student picked in its place, so no
student over the limit is trained and the picks still fill the budget.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import optuna
from optuna.trial import TrialState

from kdnas.arch import Arch
from kdnas.blockwise import CostTable, ScoreTable, build_block_table, plan_blocks, search_table
from kdnas.errors import TrialFailure
from kdnas.log import note
from kdnas.study import records as R
from kdnas.study.budget import holds_place
from kdnas.study.setup import SearchSetup
from kdnas.teachers import feature_modules

BLOCKWISE_LOSS = "blockwise_loss"  # trial attribute: the table's score of the trial's student
BLOCKWISE_FRONT = "blockwise_front"  # trial attribute: its Pareto layer in the table search
STUDY_BLOCKWISE = "blockwise"  # study attribute: table and search figures


def _log(msg: str) -> None:
    note(msg)


def _timed_within_limit(setup: SearchSetup, refused: list[dict]) -> Callable[[Arch], bool] | None:
    """Whether a pick is within the limits by the study's cost model, which times it where
    `latency.mode` times students; each pick refused is added to `refused` (its architecture, why,
    and its measured latency over the limit, in percent). None (every pick taken) where nothing
    would be timed: no latency limit, or `table` mode, whose latency is the table's, within the limit."""
    cfg = setup.cfg
    limit = cfg.constraints.max_latency_ms
    if limit is None or cfg.latency.mode == "table":
        return None

    def accept(arch: Arch) -> bool:
        try:
            costs = setup.costs(arch)
        except TrialFailure as err:  # this student cannot be timed (not exportable): pick another
            refused.append({"arch": str(arch), "reason": str(err)})
            return False
        reason = costs.reason(cfg.constraints)
        if reason is not None:
            over = None if costs.latency_ms is None else 100 * (costs.latency_ms / limit - 1)
            refused.append({"arch": str(arch), "reason": reason, "latency_over_pct": over})
        return reason is None

    return accept


def enqueue_from_table(setup: SearchSetup, study: optuna.Study, *, verbose: bool = True) -> dict:
    """Fill the study's remaining budget with picks from the block table; returns the figures
    (also stored as the study attribute ``blockwise``). Students already in the study are not
    picked again, so a resumed search only adds what is missing."""
    cfg, bw = setup.cfg, setup.cfg.proxy.blockwise
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL, TrialState.RUNNING,
                                                      TrialState.WAITING))
    # the budget counts trained students: a queued pick will take a place, an infeasible one did not
    remaining = cfg.budget.trials - sum(1 for t in trials if holds_place(t) or t.state == TrialState.WAITING)
    if remaining <= 0:
        return {}
    existing = {t.user_attrs.get(R.ARCH) for t in trials}
    existing |= {str(setup.space.suggest(optuna.trial.FixedTrial(t.params))) for t in trials
                 if t.state == TrialState.WAITING}
    c, h, w = setup.data.input_shape
    shapes = setup.teacher_info["stage_shapes"]
    plan = plan_blocks(setup.space, (h, w), [(s[1], s[2]) for s in shapes], bw.advanced.include_stem_head)
    if verbose:
        _log(f"blockwise: {len(plan.blocks)} blocks for {len(plan.groups)} teacher stages")
    names = tuple(cfg.teacher.feature_modules or feature_modules(setup.teacher.model))
    table = build_block_table(
        plan, setup.teacher.model, setup.data.train.x, setup.data.val.x, teacher_id=setup.teacher.sha256,
        data_fingerprint=setup.data.fingerprint, num_classes=setup.data.num_classes, spec=bw, seed=cfg.seed,
        feature_names=names, device=setup.ctx.device, verbose=verbose, amp=setup.ctx.accel.amp,
    )
    scores = ScoreTable(table, bw.advanced.score)
    costs = CostTable(setup.space, plan.choices, setup.data.input_shape, setup.data.num_classes,
                      latency=setup.latency_table)
    refused: list[dict] = []
    found = search_table(scores, costs, n=bw.n_students, k=remaining, seed=cfg.seed,
                         max_macs=cfg.constraints.max_macs, max_params=cfg.constraints.max_params,
                         max_latency_ms=cfg.constraints.max_latency_ms, by_latency="latency" in cfg.objectives,
                         exclude={a for a in existing if a}, accept=_timed_within_limit(setup, refused),
                         max_refused=cfg.budget.advanced.max_useless_samples)
    for cand in found.picked:
        attrs = {BLOCKWISE_LOSS: cand.score, BLOCKWISE_FRONT: cand.front}
        study.enqueue_trial(setup.space.params_of(cand.arch),
                            user_attrs=attrs if cand.latency_ms is None else {**attrs, R.LATENCY_TABLE_MS: cand.latency_ms})
    figures = {
        "blocks": table.size, "blocks_trained": table.trained, "blocks_cached": table.cached,
        "blocks_by_others": table.by_others,
        "table_wall_s": table.wall_s, "block_train_s": table.train_s, "students_scored": found.n_scored,
        "students_feasible": found.n_feasible, "score_s": found.score_s, "students_per_s": found.students_per_s,
        "front_size": found.front_size, "picked": len(found.picked), "space_size": scores.space_size,
        "front_by": "latency" if "latency" in cfg.objectives else "macs",
        "repicks": len(found.refused),  # picks timed over max_latency_ms, each replaced by the next-ranked
        "refused": refused,
    }
    if setup.latency_table is not None:
        lt = setup.latency_table
        figures.update({"latency_table_parts_timed": lt.measured, "latency_table_parts_cached": lt.cached,
                        "latency_table_wall_s": lt.wall_s})
    study.set_user_attr(STUDY_BLOCKWISE, json.dumps(figures))
    if verbose:
        others = f", {table.by_others} by other drivers" if table.by_others else ""
        _log(f"blockwise: table {table.size} blocks ({table.trained} trained, {table.cached} cached{others}) in "
             f"{table.wall_s:.1f}s; scored {found.n_scored} students in {found.score_s * 1e3:.0f} ms "
             f"({found.n_feasible} feasible, front {found.front_size}); confirming {len(found.picked)} with kd"
             + (f" ({len(found.refused)} picks timed over the latency limit, re-picked)" if found.refused else ""))
    return figures
