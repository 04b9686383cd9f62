"""Pareto fronts as pure functions over arrays (plain numpy; no knowledge of Optuna or trials).

Every function takes points as an (N, M) array already oriented for *minimisation*: negate a
maximised objective (the score) before calling.
"""

from __future__ import annotations

import numpy as np


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """True when `a` is no worse than `b` in every objective and better in at least one."""
    return bool(np.all(a <= b) and np.any(a < b))


def non_dominated_mask(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the points no other point dominates (duplicates are all kept)."""
    pts = np.asarray(points, dtype=float)
    n = len(pts)
    if n == 0:
        return np.zeros(0, dtype=bool)
    # Pairwise comparison is O(N^2 M) but vectorised: fine up to several thousand trials.
    le = np.all(pts[:, None, :] <= pts[None, :, :], axis=2)
    lt = np.any(pts[:, None, :] < pts[None, :, :], axis=2)
    dominated = np.any(le & lt, axis=0)
    return ~dominated


def non_dominated_sort(points: np.ndarray) -> np.ndarray:
    """Front rank of each point: 0 for the Pareto front, 1 for the front once that is removed, ..."""
    pts = np.asarray(points, dtype=float)
    ranks = np.full(len(pts), -1, dtype=int)
    remaining = np.arange(len(pts))
    rank = 0
    while len(remaining):
        mask = non_dominated_mask(pts[remaining])
        ranks[remaining[mask]] = rank
        remaining = remaining[~mask]
        rank += 1
    return ranks


def hypervolume_2d(points: np.ndarray, reference: np.ndarray) -> float:
    """Area dominated by 2-D `points` and bounded by `reference` (points beyond it add nothing)."""
    pts = np.asarray(points, dtype=float)
    ref = np.asarray(reference, dtype=float)
    pts = pts[np.all(pts < ref, axis=1)]
    if len(pts) == 0:
        return 0.0
    pts = pts[non_dominated_mask(pts)]
    pts = pts[np.argsort(pts[:, 0])]
    area, prev_y = 0.0, ref[1]
    for x, y in pts:
        if y < prev_y:
            area += (ref[0] - x) * (prev_y - y)
            prev_y = y
    return float(area)
