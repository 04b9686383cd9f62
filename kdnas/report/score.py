"""The axis a report ranks and plots trials by: the study's `proxy.advanced.score`, or the similarity to
the teacher for `proxy.method: similarity`.

A study ranked by accuracy is plotted in accuracy. A study ranked by a loss (`val_loss`, `tse`, `tse_late`)
has its trials' first objective stored as the loss negated (so every study maximises it); its
figures show the loss itself, lower is better, on a reversed axis, so that up still means better
and the front drawn is the front the search kept. The teacher has no such loss, so its star is
drawn on accuracy axes only. A study ranked by similarity plots the similarity itself (higher is better).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kdnas.report.style import fmt_acc, missing
from kdnas.study.schema import migrate


@dataclass(frozen=True)
class ScoreAxis:
    """How one `proxy.advanced.score` kind is ranked, plotted and written."""

    kind: str  # accuracy | val_loss | tse | tse_late | similarity
    label: str  # axis title (a loss axis adds that lower is better)
    short: str  # table heading

    @property
    def is_loss(self) -> bool:
        """Whether the ranked value is a loss negated (plotted as the loss, on a reversed axis)."""
        return self.kind in _LOSSES

    @property
    def is_accuracy(self) -> bool:
        """Whether the ranked value is the accuracy itself (the teacher has one too)."""
        return self.kind == "accuracy"

    @property
    def title(self) -> str:
        """The axis title as drawn."""
        return f"{self.label}, lower is better" if self.is_loss else self.label

    @property
    def column(self) -> str:
        """The trials-frame column that ranks trials, higher is better."""
        return "val_acc" if self.kind == "accuracy" else "score"

    def ranked(self, df: pd.DataFrame) -> pd.DataFrame:
        """Rows with a value on this axis."""
        return df[df[self.column].notna()]

    def rank(self, df: pd.DataFrame) -> np.ndarray:
        """Higher-is-better values of `df`'s rows."""
        return df[self.column].to_numpy(float)

    def shown(self, df: pd.DataFrame) -> np.ndarray:
        """The plotted values: the accuracy, the loss itself, or the similarity."""
        v = self.rank(df)
        return -v if self.is_loss else v

    def shown_value(self, ranked_value: float) -> float:
        """One higher-is-better value as `shown` plots it."""
        return -ranked_value if self.is_loss else ranked_value

    def fmt(self, ranked_value: object) -> str:
        """A higher-is-better value as written in tables and hovers."""
        if self.is_accuracy:
            return fmt_acc(ranked_value)
        return "-" if missing(ranked_value) or pd.isna(ranked_value) else \
            f"{self.shown_value(float(ranked_value)):.4f}"  # type: ignore[arg-type]


_LOSSES = frozenset({"val_loss", "tse", "tse_late"})

AXES = {
    "accuracy": ScoreAxis("accuracy", "proxy accuracy (validation top-1)", "accuracy"),
    "val_loss": ScoreAxis("val_loss", "proxy validation loss", "val loss"),
    "tse": ScoreAxis("tse", "proxy training loss, mean over the run (TSE)", "TSE"),
    "tse_late": ScoreAxis("tse_late", "proxy training loss, mean over the run's second half (TSE-E)", "TSE-E"),
    "similarity": ScoreAxis("similarity", "similarity to the teacher (proxy.similarity.measure)", "similarity"),
}


def axis_of(config: dict) -> ScoreAxis:
    """The axis of a study from its stored config (accuracy for studies stored before `proxy.advanced.score`
    and before it `proxy.score`: the stored config is read in today's shape)."""
    proxy = migrate(config)[0].get("proxy") if isinstance(config, dict) else None
    if (proxy or {}).get("method") == "similarity":
        return AXES["similarity"]
    kind = ((proxy or {}).get("advanced") or {}).get("score", "accuracy")
    return AXES.get(kind, AXES["accuracy"])


def common_axis(axes: list[ScoreAxis]) -> ScoreAxis:
    """The axis of a page overlaying studies: theirs when they agree, else accuracy, which every
    study records."""
    kinds = {a.kind for a in axes}
    return axes[0] if len(kinds) == 1 else AXES["accuracy"]
