"""Multi-objective successive halving: the rungs and the promotion rule, as pure functions.

No storage, no torch: the search loop (and the search-efficiency benchmark, which replays halving on
a precomputed table) hands in plain numbers keyed by student id and gets back which students to
promote. The rule is ASHA's (Li et al. 2020), asynchronous: a student finished at rung r is
promotable as soon as it is in the top ⌊n_r/eta⌋ of the n_r students finished at rung r, so no worker
waits for a rung to fill. "Top" is the multi-objective order of MO-ASHA (Schmucker et al. 2021):

1. Pareto rank of (score ↑, costs ↓) at that rung (`kdnas.pareto.non_dominated_sort`);
2. within a rank, an ε-net order: the front's best student in each objective first (its extremes),
   then repeatedly the student farthest from all those already picked (greedy farthest point).
   Distances are taken on objectives scaled to [0, 1] over the rung, costs on a log scale (MACs,
   params and latency span decades, and the front is read on log axes).

Why the ε-net rather than NSGA-II's crowding distance: crowding distance is computed once per
point from its two neighbours, so when only k of a front's students fit, two neighbours in a sparse
stretch both score high and are both taken while another stretch gets nothing; and every front's
extremes get an infinite distance, so on the small fronts of early rungs it barely orders anything.
The ε-net measures each pick against the picks before it, so every next student covers the largest
gap left on the front; it is the default order of MO-ASHA's reference implementation (Syne Tune). The order is total (remaining ties go to the smaller
student id), so every driver computes the same promotions from the same results.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np

from kdnas.pareto import non_dominated_sort

__all__ = ["rungs", "priority_order", "promotable", "next_promotion"]


def rungs(min_steps: int, eta: int, top: int) -> list[int]:
    """The rungs' step counts: min_steps·eta^i for every i where that is below `top`, then `top`.

    `rungs(30, 3, 270) == [30, 90, 270]`; `rungs(30, 3, 300) == [30, 90, 270, 300]`;
    `rungs(300, 3, 270) == [270]` (one rung: the plain loop).
    """
    if min_steps < 1 or eta < 2 or top < 1:
        raise ValueError(f"need min_steps >= 1, eta >= 2, top >= 1; got {min_steps}, {eta}, {top}")
    out: list[int] = []
    steps = min_steps
    while steps < top:
        out.append(steps)
        steps *= eta
    return out + [top]


def _scaled(points: np.ndarray) -> np.ndarray:
    """Minimisation-oriented points scaled to [0, 1] per objective; costs (columns 1..) on log scale."""
    pts = points.copy()
    costs = pts[:, 1:]
    positive = np.all(costs > 0, axis=0)
    # A cost column with a zero or negative entry (not a MAC count or a latency) stays linear.
    costs[:, positive] = np.log(costs[:, positive])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return (pts - lo) / span


def _eps_net(members: list[int], ids: list[str], raw: np.ndarray, scaled: np.ndarray) -> list[int]:
    """One front's members in ε-net order: per-objective extremes first, then farthest point."""
    picked: list[int] = []
    for m in range(raw.shape[1]):
        best = min(members, key=lambda i: (raw[i, m], ids[i]))
        if best not in picked:
            picked.append(best)
    rest = [i for i in members if i not in picked]
    if not rest:
        return picked
    pts = scaled[rest]
    # each remaining student's distance to the nearest pick, updated as picks are added: O(n^2) a front
    gap = np.min(np.linalg.norm(pts[:, None, :] - scaled[picked][None, :, :], axis=2), axis=1)
    names = [ids[i] for i in rest]
    left = np.ones(len(rest), dtype=bool)
    for _ in range(len(rest)):
        far = gap[left].max()
        # farthest first; equal gaps go to the smaller id so the order is the same for every driver
        j = min((k for k in np.flatnonzero(left) if gap[k] == far), key=lambda k: names[k])
        picked.append(rest[j])
        left[j] = False
        gap = np.minimum(gap, np.linalg.norm(pts - pts[j], axis=1))
    return picked


def priority_order(results: Mapping[str, Sequence[float]]) -> list[str]:
    """All students of one rung, best first: by Pareto rank, then ε-net order within the rank.

    `results` maps a student id to its values at the rung: (score, cost, ...) with the score
    maximised and every cost minimised, the study's objectives in the study's order.
    """
    ids = sorted(results)
    if not ids:
        return []
    raw = np.array([list(results[i]) for i in ids], dtype=float)
    if raw.ndim != 2 or raw.shape[1] < 2:
        raise ValueError("each result needs a score and at least one cost")
    if not np.all(np.isfinite(raw)):
        raise ValueError("results must be finite (leave failed students out)")
    raw[:, 0] = -raw[:, 0]  # the score is maximised
    ranks = non_dominated_sort(raw)
    scaled = _scaled(raw)
    order: list[int] = []
    for rank in range(int(ranks.max()) + 1):
        order += _eps_net([i for i in range(len(ids)) if ranks[i] == rank], ids, raw, scaled)
    return [ids[i] for i in order]


def promotable(results_at_rung: Mapping[str, Sequence[float]], promoted_already: Collection[str],
               eta: int) -> list[str]:
    """The students of one rung to promote now, best first (ASHA's rule, multi-objective order).

    A student is promotable when it is in the top ⌊n/eta⌋ of the n students finished at this rung
    (by `priority_order`) and not in `promoted_already` (those promoted from this rung before).
    Nothing is promoted while n < eta. Results of the top rung should not be passed: there is no
    rung above it.
    """
    if eta < 2:
        raise ValueError(f"eta must be at least 2, got {eta}")
    k = len(results_at_rung) // eta
    if k == 0:
        return []
    done = set(promoted_already)
    return [s for s in priority_order(results_at_rung)[:k] if s not in done]


def next_promotion(results: Sequence[Mapping[str, Sequence[float]]], promoted: Sequence[Collection[str]],
                   eta: int) -> tuple[str, int] | None:
    """The student to promote now and the rung it goes to, or None: higher rungs first (ASHA: the
    students closest to a whole run finish first), best first within a rung (`promotable`).

    `results[r]` holds the students finished at rung r (the top rung's may be left out: nothing goes
    above it) and `promoted[r]` those already sent from rung r to rung r + 1. The search loop and the
    search-efficiency replay both call this, so the benchmark replays the loop's own order.
    """
    for r in range(len(results) - 1, -1, -1):
        for arch in promotable(results[r], promoted[r], eta):
            return arch, r + 1
    return None
