"""Rank agreement between two scorings of the same architectures: Kendall tau and Spearman rho,
their percentile bootstrap intervals, and how well repeated ground-truth runs agree with each other
(the ceiling a proxy can reach against any one of them)."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
from scipy import stats


def rank(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Kendall tau and Spearman rho of `x` against `y` (NaN with fewer than 3 points)."""
    if len(x) < 3:
        return {"tau": float("nan"), "rho": float("nan")}
    return {"tau": float(stats.kendalltau(x, y)[0]), "rho": float(stats.spearmanr(x, y)[0])}


def bootstrap(x: np.ndarray, y: np.ndarray, n: int, seed: int) -> dict:
    """tau and rho of `x` against `y`, with 95% percentile intervals over `n` resamples of the points."""
    rng = np.random.default_rng(seed)
    taus, rhos = [], []
    for _ in range(n):
        i = rng.integers(0, len(x), len(x))
        if len(set(y[i])) < 2 or len(set(x[i])) < 2:
            continue  # a resample with one distinct value has no ranking to compare
        taus.append(stats.kendalltau(x[i], y[i])[0])
        rhos.append(stats.spearmanr(x[i], y[i])[0])
    q = lambda v: [float(np.nanpercentile(v, 2.5)), float(np.nanpercentile(v, 97.5))]  # noqa: E731
    r = rank(x, y)
    return {"tau": r["tau"], "tau_ci": q(taus), "rho": r["rho"], "rho_ci": q(rhos)}


def seed_agreement(runs: np.ndarray, seeds: list[int] | None = None) -> dict:
    """How alike repeated runs rank the same architectures: `runs` is seeds x architectures, its
    rows the runs of `seeds` (default 0, 1, ...), which name the pairs.

    For every pair of seeds: tau and rho between them, and their mean and largest absolute
    difference; summarised as means over pairs (empty with one seed).

    Two noisy runs agree less than a noise-free proxy agrees with either, so the pairwise rho is
    not itself the ceiling. `rho_ceiling_one_run` and `rho_ceiling_mean` estimate that ceiling
    (the rho a proxy equal to the noise-free accuracy would reach against one run, and against the
    mean of all seeds) with the Spearman-Brown formula, taking the mean pairwise rho as one run's
    reliability: sqrt(k r / (1 + (k - 1) r)) for a mean of k runs. It assumes the seed noise is
    independent and alike for every architecture; with few architectures it is a rough guide.
    `tau_ceiling_one_run` and `tau_ceiling_mean` turn those into Kendall tau with Greiner's relation
    tau = (2 / pi) arcsin(rho), exact for normally distributed scores."""
    runs = np.asarray(runs, dtype=float)
    pairs = [(i, j) for i, j in combinations(range(len(runs)), 2)]
    if not pairs:
        return {}
    names = list(range(len(runs))) if seeds is None else list(seeds)
    per = [{"seeds": [names[i], names[j]], **rank(runs[i], runs[j]), "mean_abs_diff": float(np.abs(runs[i] - runs[j]).mean()),
            "max_abs_diff": float(np.abs(runs[i] - runs[j]).max())} for i, j in pairs]
    r = float(np.mean([p["rho"] for p in per]))
    ceiling = lambda k: math.sqrt(k * r / (1 + (k - 1) * r)) if r > 0 else float("nan")  # noqa: E731
    one, mean = ceiling(1), ceiling(len(runs))
    return {"pairs": per, "tau": float(np.mean([p["tau"] for p in per])), "rho": r,
            "rho_ceiling_one_run": one, "rho_ceiling_mean": mean,
            "tau_ceiling_one_run": 2 / math.pi * math.asin(one), "tau_ceiling_mean": 2 / math.pi * math.asin(mean),
            "mean_abs_diff": float(np.mean([p["mean_abs_diff"] for p in per])),
            "max_abs_diff": float(max(p["max_abs_diff"] for p in per)),
            "spread_of_mean": float(np.ptp(runs.mean(axis=0)))}
