"""Interactive Plotly figures of one or several studies (rendered into the self-contained page).

Every trial with a cost is one marker: trained feasible trials by the score that ranked them
(accuracy, or the loss of `proxy.advanced.score` on a reversed axis; see `kdnas.report.score`), the 2-D
front filled and joined by a step line, duplicates hollow, and trials without a score (infeasible,
failed, running) in a strip under the plot, on the same cost axis. The teacher is a star (on
accuracy axes).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from kdnas.report.style import (COST_LABELS, PLOTLY_SYMBOLS, STATUS_COLOURS, TEACHER_COLOUR, fmt_acc, fmt_count,
                                fmt_cost, fmt_ms, study_colour)
from kdnas.report.score import ScoreAxis, common_axis
from kdnas.report.view import UNTRAINED, RankCorrelation, StudyView, cost_limits, front_2d

_HOVER = ("<b>%{customdata[0]}trial %{customdata[1]}</b> · %{customdata[2]}<br>%{customdata[3]}<br>"
          "%{customdata[4]} · MACs %{customdata[5]} · params %{customdata[6]} · latency %{customdata[7]}"
          "<extra></extra>")
_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


def _scores(df: pd.DataFrame, axis: ScoreAxis) -> list[str]:
    if axis.is_accuracy:
        return [f"accuracy {fmt_acc(v)}" for v in df["val_acc"]]
    return [f"{axis.short} {axis.fmt(s)} · accuracy {fmt_acc(v)}" for s, v in zip(df["score"], df["val_acc"])]


def _custom(df: pd.DataFrame, label: str, axis: ScoreAxis) -> np.ndarray:
    return np.column_stack([
        np.full(len(df), label, dtype=object), df["trial"].to_numpy(), df["status"].to_numpy(),
        df["arch"].fillna("(no architecture)").to_numpy(),
        _scores(df, axis), [fmt_count(v) for v in df["macs"]],
        [fmt_count(v) for v in df["params"]], [fmt_ms(v) for v in df["latency_ms"]],
    ]) if len(df) else np.empty((0, 8), dtype=object)


def _jitter(trials: pd.Series) -> np.ndarray:
    # deterministic spread so that many trials at one status do not hide each other
    return ((trials.to_numpy(dtype=float) * 0.6180339887) % 1.0 - 0.5) * 0.5


def _base_layout(fig: go.Figure, height: int) -> None:
    fig.update_layout(
        height=height, template="plotly_white", font={"family": _FONT, "size": 13},
        margin={"l": 70, "r": 10, "t": 36, "b": 50}, hovermode="closest",
        legend={"orientation": "v", "yanchor": "top", "y": 1.0, "xanchor": "left", "x": 1.01,
                "font": {"size": 12}, "groupclick": "toggleitem"},
    )


def pareto_figure(views: list[StudyView], cost: str, height: int | None = None) -> go.Figure:
    """The proxy's score (accuracy, or the loss it ranked by) against one cost (macs | params |
    latency_ms), every study overlaid."""
    multi = len(views) > 1
    axis = common_axis([v.axis for v in views])
    has_strip = any((v.trials["status"].isin(UNTRAINED) & v.trials[cost].notna()).any() for v in views)
    if has_strip:
        fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.82, 0.18], vertical_spacing=0.04)
    else:
        fig = make_subplots(rows=1, cols=1)
    for i, v in enumerate(views):
        colour = study_colour(i) if multi else STATUS_COLOURS["ok"]
        label = f"{v.name} · " if multi else ""
        group = {"legendgroup": v.name, "legendgrouptitle_text": v.name} if multi else {}
        t = v.trials[v.trials[cost].notna()]
        ok = axis.ranked(v.ok[v.ok[cost].notna()])  # top rung only: a lower rung's score is another scale
        on_front = front_2d(axis.rank(ok), ok[cost].to_numpy())
        front, rest = ok[on_front].sort_values([cost, axis.column]), ok[~on_front]
        fig.add_trace(go.Scatter(
            x=front[cost], y=axis.shown(front), mode="lines", line={"shape": "hv", "color": colour, "width": 2},
            name=f"{label}front (step)", hoverinfo="skip", showlegend=False, **group), row=1, col=1)
        fig.add_trace(go.Scatter(
            x=front[cost], y=axis.shown(front), mode="markers", name=f"{label}front ({len(front)})",
            marker={"symbol": PLOTLY_SYMBOLS["front"], "size": 11, "color": colour,
                    "line": {"color": "#111827", "width": 1.2}},
            customdata=_custom(front, label, axis), hovertemplate=_HOVER, **group), row=1, col=1)
        fig.add_trace(go.Scatter(
            x=rest[cost], y=axis.shown(rest), mode="markers", name=f"{label}trained, dominated ({len(rest)})",
            marker={"symbol": PLOTLY_SYMBOLS["ok"], "size": 7, "color": colour, "opacity": 0.4},
            customdata=_custom(rest, label, axis), hovertemplate=_HOVER, **group), row=1, col=1)
        dup = axis.ranked(t[(t["status"] == "duplicate") & ~t["below_top"].astype(bool)])
        if len(dup):
            fig.add_trace(go.Scatter(
                x=dup[cost], y=axis.shown(dup), mode="markers", name=f"{label}duplicate arch ({len(dup)})",
                marker={"symbol": PLOTLY_SYMBOLS["duplicate"], "size": 8,
                        "color": colour if multi else STATUS_COLOURS["duplicate"], "line": {"width": 1.5}},
                customdata=_custom(dup, label, axis), hovertemplate=_HOVER, **group), row=1, col=1)
        if has_strip:
            for row_y, status in enumerate(UNTRAINED):
                s = t[t["status"] == status]
                if not len(s):
                    continue
                fig.add_trace(go.Scatter(
                    x=s[cost], y=row_y + _jitter(s["trial"]), mode="markers", name=f"{label}{status} ({len(s)})",
                    marker={"symbol": PLOTLY_SYMBOLS[status], "size": 8,
                            "color": colour if multi else STATUS_COLOURS[status],
                            "line": {"width": 1, "color": colour if multi else STATUS_COLOURS[status]}},
                    customdata=_custom(s, label, axis), hovertemplate=_HOVER, **group), row=2, col=1)
    if axis.is_accuracy:  # the teacher has an accuracy, not the student run's loss or similarity
        _add_teachers(fig, views, cost)
    for limit in cost_limits(views, cost):
        fig.add_vline(x=limit, line={"color": "#6b7280", "dash": "dash", "width": 1})
        # annotations on a log axis take log10 coordinates
        fig.add_annotation(x=math.log10(limit), y=1, xref="x", yref="y domain", text=f"{COST_LABELS[cost]} limit",
                           showarrow=False, xanchor="right", yanchor="top", font={"size": 11, "color": "#6b7280"})
    _base_layout(fig, height or (560 if has_strip else 480))
    fig.update_xaxes(type="log", title_text=None if has_strip else COST_LABELS[cost], row=1, col=1)
    if axis.is_loss:  # up is better on every page: the loss runs downwards
        fig.update_yaxes(title_text=axis.title, tickformat=".3f", autorange="reversed", row=1, col=1)
    else:
        fig.update_yaxes(title_text=axis.title, tickformat=".2~%" if axis.is_accuracy else ".3f", row=1, col=1)
    if has_strip:
        fig.update_xaxes(type="log", title_text=COST_LABELS[cost], row=2, col=1)
        fig.update_yaxes(tickvals=list(range(len(UNTRAINED))), ticktext=[f"{s}" for s in UNTRAINED],
                         range=[-0.6, len(UNTRAINED) - 0.4], showgrid=False, zeroline=False, row=2, col=1)
    return fig


def _add_teachers(fig: go.Figure, views: list[StudyView], cost: str) -> None:
    seen: set[tuple] = set()
    for v in views:
        te = v.teacher
        if not te or te.get(cost) is None:
            continue
        key = (te.get("name"), te.get("val_acc"), te.get(cost))
        if key in seen:
            continue
        seen.add(key)
        hover = (f"<b>teacher {te.get('name')}</b><br>accuracy {fmt_acc(te.get('val_acc'))} · MACs "
                 f"{fmt_count(te.get('macs'))} · params {fmt_count(te.get('params'))} · latency "
                 f"{fmt_ms(te.get('latency_ms'))}<extra></extra>")
        fig.add_trace(go.Scatter(
            x=[te[cost]], y=[te["val_acc"]], mode="markers+text", name=f"teacher {te.get('name')}",
            text=[f"teacher {te.get('name')}"], textposition="bottom left",
            textfont={"color": "#6b5a00", "size": 12},
            marker={"symbol": PLOTLY_SYMBOLS["teacher"], "size": 18, "color": TEACHER_COLOUR,
                    "line": {"color": "#111827", "width": 1}},
            hovertemplate=hover), row=1, col=1)
        fig.add_hline(y=te["val_acc"], line={"color": TEACHER_COLOUR, "dash": "dot", "width": 1}, row=1, col=1)


def hypervolume_figure(curves: dict[str, pd.DataFrame]) -> go.Figure:
    """Hypervolume of the feasible trained trials so far, against trial number."""
    fig = go.Figure()
    multi = len(curves) > 1
    for i, (name, c) in enumerate(curves.items()):
        fig.add_trace(go.Scatter(
            x=c["trial"], y=c["hypervolume"], mode="lines", line={"shape": "hv", "width": 2.5,
                                                                  "color": study_colour(i) if multi else STATUS_COLOURS["ok"]},
            name=name, hovertemplate="trial %{x}: hypervolume %{y:.4f}<extra>" + name + "</extra>"))
    _base_layout(fig, 340)
    fig.update_layout(showlegend=multi)
    fig.update_xaxes(title_text="trial number")
    fig.update_yaxes(title_text="hypervolume (acc × MACs)", rangemode="tozero")
    return fig


def correlation_figure(corrs: dict[str, RankCorrelation]) -> go.Figure:
    """The proxy's score (accuracy, or the loss it ranked by) against final test accuracy after retraining."""
    fig = go.Figure()
    multi = len(corrs) > 1
    axis = common_axis([rc.axis for rc in corrs.values()])
    for i, (name, rc) in enumerate(corrs.items()):
        p = rc.pairs
        fig.add_trace(go.Scatter(
            x=axis.shown(p), y=p["final_test_acc"], mode="markers",
            name=f"{name}: Kendall τ {rc.kendall_tau:.3f}, Spearman ρ {rc.spearman_rho:.3f} (n={rc.n})",
            marker={"size": 9, "color": study_colour(i) if multi else STATUS_COLOURS["ok"]},
            customdata=np.column_stack([p["trial"], p["arch"]]),
            hovertemplate="trial %{customdata[0]}<br>%{customdata[1]}<br>proxy %{x:" + (".2%" if axis.is_accuracy else ".4f")
                          + "} · final %{y:.2%}<extra></extra>"))
    _base_layout(fig, 420)
    fig.update_layout(showlegend=True)
    if axis.is_loss:
        fig.update_xaxes(title_text=axis.title, tickformat=".3f", autorange="reversed")
    elif not axis.is_accuracy:
        fig.update_xaxes(title_text=axis.title, tickformat=".3f")
    else:
        fig.update_xaxes(title_text="proxy accuracy (validation)", tickformat=".2~%")
    fig.update_yaxes(title_text="final test accuracy (retrained)", tickformat=".2~%")
    return fig


def cost_columns(views: list[StudyView]) -> list[str]:
    """The cost axes with at least one measured value (MACs first)."""
    return [c for c in ("macs", "latency_ms", "params") if any(v.trials[c].notna().any() for v in views)]


__all__ = ["correlation_figure", "cost_columns", "fmt_cost", "hypervolume_figure", "pareto_figure"]
