"""How far a short rung can be trusted: Kendall τ between consecutive rungs of successive halving.

The students evaluated at both rungs of a pair are the ones promoted from the lower rung (its best
1/eta by Pareto rank), so τ says how well the shorter run orders students that are already good,
on this study's own data: a τ near 1 means the lower rung could have decided alone, a τ near 0
that its order among the promoted is noise and a longer first rung (`search.min_steps`) would
spend the budget better. With a similarity screen (`search.screen`) the first pair is the screen
(0 steps: the similarity at initialisation) against the first KD rung: how well the screen
predicts a short training run on the user's own data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from kdnas.study import records as R


RUNGS_DOC = ("Successive halving: for each pair of consecutive rungs, Kendall τ between the students' scores at "
             "the shorter and the longer run, over the students evaluated at both (those promoted: the best of the "
             "shorter rung). Near 1: the shorter rung already orders good students as the longer one does; near 0: "
             "its order among them is noise, and a longer first rung (search.min_steps) would spend the budget better. "
             "With a similarity screen (search.screen), its first line is the screen's similarity against the first "
             "rung's score: near 0, the screen picks students no better than chance among those it passes")


@dataclass(frozen=True)
class RungPair:
    """Two consecutive rungs (their proxy steps) and how alike they rank the students of both."""

    lower: int
    upper: int
    n: int  # students evaluated at both rungs
    kendall_tau: float  # nan when fewer than two students, or every score tied

    def line(self) -> str:
        """'30 -> 90 steps: Kendall τ 0.714 over 7 students' ('similarity screen -> 30 steps: ...' for a
        screen, the rung of 0 steps)."""
        tau = "n/a" if math.isnan(self.kendall_tau) else f"{self.kendall_tau:.3f}"
        lower = "similarity screen" if self.lower == 0 else str(self.lower)
        return f"{lower} -> {self.upper} steps: Kendall τ {tau} over {self.n} student{'s' * (self.n != 1)}"


def runs_spent(trials: pd.DataFrame, rungs: list[int]) -> int:
    """Whole proxy runs' worth of student-steps the trained trials took (what a halving study's
    `budget.trials` counts): each trial trains its rung's steps less the rung below's."""
    below = dict(zip(rungs, [0, *rungs[:-1]]))
    done = trials[trials["trained"].astype(bool) & trials["rung_steps"].notna()]
    return int(sum(int(s) - below.get(int(s), 0) for s in done["rung_steps"]) // rungs[-1])


def rung_agreement(trials: pd.DataFrame) -> list[RungPair]:
    """One `RungPair` per pair of consecutive rungs, from a `trials_frame` (none for a plain study)."""
    if "rung_steps" not in trials:
        return []
    ok = trials[(trials["status"] == R.STATUS_OK) & trials["rung_steps"].notna()]
    steps = sorted(int(s) for s in ok["rung_steps"].unique())
    out = []
    for lo, hi in zip(steps, steps[1:]):
        a, b = (ok[ok["rung_steps"] == s].drop_duplicates("arch").set_index("arch")["score"].astype(float)
                for s in (lo, hi))
        both = a.index.intersection(b.index)
        tau = math.nan
        if len(both) >= 2:
            from scipy.stats import kendalltau

            tau = float(kendalltau(a[both].to_numpy(), b[both].to_numpy()).statistic)
        out.append(RungPair(lo, hi, len(both), tau))
    return out
