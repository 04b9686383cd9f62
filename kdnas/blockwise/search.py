"""Search the whole space from the block table: score many architectures at once, keep the Pareto
front of (block-wise loss, MACs) among the feasible ones, and pick the members to confirm with the
end-to-end proxy (spread along the front by MACs; further fronts fill up when it is too small)."""

from __future__ import annotations

import time
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


@dataclass(frozen=True)
class TableSearch:
    """What scoring the space from the table found, and what it cost."""

    n_scored: int
    n_feasible: int
    score_s: float
    picked: tuple[Candidate, ...]
    front_size: int

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


def spread(macs: np.ndarray, k: int) -> np.ndarray:
    """Indices of `k` points spread evenly (by rank of MACs) over `macs`, ends included."""
    order = np.argsort(macs, kind="stable")
    if len(order) <= k:
        return order
    return order[np.unique(np.round(np.linspace(0, len(order) - 1, k)).astype(int))]


def search_table(scores: ScoreTable, costs: CostTable, *, n: int, k: int, seed: int = 0,
                 max_macs: int | None = None, max_params: int | None = None,
                 exclude: set[str] | None = None) -> TableSearch:
    """Score `n` architectures (the whole space when smaller), keep the feasible ones and pick `k`
    to confirm: the first front spread by MACs, then later fronts while fewer than `k`.
    `exclude`: architecture texts not to pick (already confirmed)."""
    t0 = time.perf_counter()
    codes = scores.sample(n, seed)
    loss = scores.score(codes)
    macs, params = costs(codes)
    score_s = time.perf_counter() - t0
    ok = np.ones(len(codes), bool)
    if max_macs is not None:
        ok &= macs <= max_macs
    if max_params is not None:
        ok &= params <= max_params
    idx = np.flatnonzero(ok)
    layers = pareto_layers(loss[idx], macs[idx].astype(float)) if len(idx) else np.array([], int)
    picked: list[Candidate] = []
    exclude = exclude or set()
    for layer in range(int(layers.max()) + 1 if len(layers) else 0):
        if len(picked) >= k:
            break
        members = idx[layers == layer]
        members = np.array([m for m in members if str(scores.decode(codes[m])) not in exclude], dtype=int)
        if not len(members):
            continue
        for m in members[spread(macs[members], k - len(picked))]:
            picked.append(Candidate(scores.decode(codes[m]), float(loss[m]), int(macs[m]), int(params[m]), layer))
    picked.sort(key=lambda c: c.macs)
    return TableSearch(len(codes), len(idx), score_s, tuple(picked), int((layers == 0).sum()))
