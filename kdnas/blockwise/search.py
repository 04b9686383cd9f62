"""Search the whole space from the block table: score many architectures at once, keep the Pareto
front of (block-wise loss, cost) among the feasible ones, and pick the members to confirm with the
end-to-end proxy (spread along the front by cost; further fronts fill up when it is too small).
The cost is MACs, or the latency predicted by the cost table's latency table (`by_latency`); a
latency limit is checked against that prediction too. A pick can be confirmed before it is taken
(`accept`: the study times it whole against the limit): one refused is replaced by the next-ranked
feasible student, a re-pick."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kdnas.arch import Arch
from kdnas.blockwise.costs import CostTable
from kdnas.blockwise.score import ScoreTable


@dataclass(frozen=True)
class Candidate:
    """One architecture picked for confirmation, with its table score and costs."""

    arch: Arch
    score: float
    macs: int
    params: int
    front: int  # 0 = the first Pareto front
    latency_ms: float | None = None  # predicted by the latency table, when the cost table has one


@dataclass(frozen=True)
class TableSearch:
    """What scoring the space from the table found, and what it cost."""

    n_scored: int
    n_feasible: int
    score_s: float
    picked: tuple[Candidate, ...]
    front_size: int
    refused: tuple[Candidate, ...] = ()  # picks `accept` turned down, each replaced by a re-pick

    @property
    def students_per_s(self) -> float:
        """Architectures scored (and costed) per second."""
        return self.n_scored / self.score_s if self.score_s > 0 else float("inf")


def pareto_layers(score: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Non-dominated sorting of 2-D minimisation points: layer index per point (0 = the front)."""
    layer = np.full(len(score), -1)
    left = np.arange(len(score))
    k = 0
    while len(left):
        order = left[np.lexsort((score[left], cost[left]))]  # by cost, ties by score
        best = np.minimum.accumulate(score[order])
        # on the front: strictly better score than every cheaper point (the first always is)
        on = np.ones(len(order), bool)
        on[1:] = score[order][1:] < best[:-1]
        layer[order[on]] = k
        left = order[~on]
        k += 1
    return layer


def spread(cost: np.ndarray, k: int) -> np.ndarray:
    """Indices of `k` points spread evenly (by rank of cost) over `cost`, ends included."""
    order = np.argsort(cost, kind="stable")
    if len(order) <= k:
        return order
    return order[np.unique(np.round(np.linspace(0, len(order) - 1, k)).astype(int))]


def search_table(scores: ScoreTable, costs: CostTable, *, n: int, k: int, seed: int = 0,
                 max_macs: int | None = None, max_params: int | None = None, max_latency_ms: float | None = None,
                 by_latency: bool = False, exclude: set[str] | None = None,
                 accept: Callable[[Arch], bool] | None = None, max_refused: int | None = None) -> TableSearch:
    """Score `n` architectures (the whole space when smaller), keep the feasible ones and pick `k`
    to confirm: the first front spread by cost, then later fronts while fewer than `k`. The cost is
    MACs, or the predicted latency with `by_latency`; `max_latency_ms` and `by_latency` need a cost
    table made with a latency table. `exclude`: architecture texts not to pick (already confirmed).

    `accept` (optional) is asked about each pick before it is taken; a refused one is dropped and the
    spread is redone over the untried members of its front (then the next fronts), so the next-ranked
    feasible student takes its place, until `k` are taken, the feasible ones run out, or `max_refused`
    picks in a row were refused (each answer may cost a measurement)."""
    t0 = time.perf_counter()
    codes = scores.sample(n, seed)
    loss = scores.score(codes)
    macs, params = costs(codes)
    latency = costs.latency_ms(codes) if (by_latency or max_latency_ms is not None) else None
    score_s = time.perf_counter() - t0
    ok = np.ones(len(codes), bool)
    if max_macs is not None:
        ok &= macs <= max_macs
    if max_params is not None:
        ok &= params <= max_params
    if max_latency_ms is not None:
        ok &= latency <= max_latency_ms  # type: ignore[operator]
    cost = latency if by_latency else macs.astype(float)
    idx = np.flatnonzero(ok)
    layers = pareto_layers(loss[idx], cost[idx]) if len(idx) else np.array([], int)  # type: ignore[index]
    picked: list[Candidate] = []
    refused: list[Candidate] = []
    in_a_row = 0
    exclude = exclude or set()

    def done() -> bool:
        return len(picked) >= k or (max_refused is not None and in_a_row >= max_refused)

    for layer in range(int(layers.max()) + 1 if len(layers) else 0):
        if done():
            break
        members = idx[layers == layer]
        members = np.array([m for m in members if str(scores.decode(codes[m])) not in exclude], dtype=int)
        # a refused pick leaves its place open: spread again over the members not tried yet
        while len(members) and not done():
            chosen = members[spread(cost[members], k - len(picked))]  # type: ignore[index]
            members = np.setdiff1d(members, chosen)
            for m in chosen:
                if done():
                    break
                cand = Candidate(scores.decode(codes[m]), float(loss[m]), int(macs[m]), int(params[m]), layer,
                                 float(latency[m]) if latency is not None else None)
                if accept is None or accept(cand.arch):
                    picked.append(cand)
                    in_a_row = 0
                else:
                    refused.append(cand)
                    in_a_row += 1
    picked.sort(key=lambda c: c.macs)
    return TableSearch(len(codes), len(idx), score_s, tuple(picked), int((layers == 0).sum()), tuple(refused))
