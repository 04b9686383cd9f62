"""How well the proxy ranked the students: Kendall tau and Spearman rho, proxy vs final accuracy."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class RankAgreement:
    """Rank correlations over `n` students (NaN with fewer than 2, or when either side is constant)."""

    n: int
    kendall_tau: float
    spearman_rho: float
    kendall_p: float
    spearman_p: float


def rank_agreement(proxy: list[float], final: list[float]) -> RankAgreement:
    """Kendall tau-b and Spearman rho between the proxy scores and the final accuracies."""
    from scipy.stats import kendalltau, spearmanr

    if len(proxy) != len(final):
        raise ValueError("proxy and final need the same length")
    n = len(proxy)
    if n < 2 or len(set(proxy)) < 2 or len(set(final)) < 2:
        return RankAgreement(n, math.nan, math.nan, math.nan, math.nan)
    tau = kendalltau(proxy, final)
    rho = spearmanr(proxy, final)
    return RankAgreement(n, float(tau.statistic), float(rho.statistic), float(tau.pvalue), float(rho.pvalue))
