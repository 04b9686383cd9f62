"""`pareto.png`: accuracy against MACs as a static figure for slides and papers (matplotlib, Agg)."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: reports are written on servers and in CI

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, PercentFormatter  # noqa: E402

from kdnas.atomic import write_bytes  # noqa: E402
from kdnas.report.style import MPL_MARKERS, STATUS_COLOURS, TEACHER_COLOUR, study_colour  # noqa: E402
from kdnas.report.score import common_axis  # noqa: E402
from kdnas.report.view import UNTRAINED, StudyView, cost_limits, front_2d  # noqa: E402


def _count_label(value: float, _pos: int) -> str:
    """200K, 1M, 1.5M: a MAC or parameter count as people say it (latency in ms stays a number)."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if value >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def write_png(views: list[StudyView], path: Path, cost: str = "macs") -> Path:
    """Draw every study's trials and 2-D front; trials without accuracy in a strip underneath."""
    multi = len(views) > 1
    axis = common_axis([v.axis for v in views])  # accuracy, or the loss the search ranked by
    has_strip = any((v.trials["status"].isin(UNTRAINED) & v.trials[cost].notna()).any() for v in views)
    with plt.rc_context({"font.size": 10, "axes.spines.top": False, "axes.spines.right": False}):
        if has_strip:
            fig, (ax, strip) = plt.subplots(2, 1, figsize=(7.2, 5.0), sharex=True,
                                            gridspec_kw={"height_ratios": [5, 1], "hspace": 0.08})
        else:
            fig, ax = plt.subplots(figsize=(7.2, 4.4))
            strip = None
        drawn = False
        for i, v in enumerate(views):
            colour = study_colour(i) if multi else STATUS_COLOURS["ok"]
            prefix = f"{v.name}: " if multi else ""
            t = v.trials[v.trials[cost].notna()]
            ok = axis.ranked(v.ok[v.ok[cost].notna()])  # top rung only: a lower rung's score is another scale
            mask = front_2d(axis.rank(ok), ok[cost].to_numpy())
            front, rest = ok[mask].sort_values([cost, axis.column]), ok[~mask]
            if len(rest):
                ax.scatter(rest[cost], axis.shown(rest), s=14, color=colour, alpha=0.3, linewidths=0,
                           label=f"{prefix}dominated" if not multi else None)
            dup = axis.ranked(t[(t["status"] == "duplicate") & ~t["below_top"].astype(bool)])
            if len(dup):
                ax.scatter(dup[cost], axis.shown(dup), s=18, facecolors="none",
                           edgecolors=colour if multi else STATUS_COLOURS["duplicate"], linewidths=0.8,
                           label=None if multi else "duplicate arch")
            if len(front):
                ax.step(front[cost], axis.shown(front), where="post", color=colour, linewidth=1.6)
                ax.scatter(front[cost], axis.shown(front), s=36, color=colour, edgecolors="#111827",
                           linewidths=0.7, zorder=3, label=f"{prefix}front ({len(front)})")
                drawn = True
            if strip is not None:
                for row_y, status in enumerate(UNTRAINED):
                    s = t[t["status"] == status]
                    if len(s):
                        jitter = ((s["trial"].to_numpy(float) * 0.618) % 1.0 - 0.5) * 0.5
                        c = colour if multi else STATUS_COLOURS[status]
                        strip.scatter(s[cost], row_y + jitter, s=14, marker=MPL_MARKERS[status], color=c,
                                      linewidths=0.9, label=None)
                        drawn = True
        teachers = {(v.teacher["name"], v.teacher["val_acc"], v.teacher.get(cost)): v.teacher
                    for v in views if v.teacher and v.teacher.get(cost) is not None and axis.is_accuracy}
        for te in teachers.values():
            ax.scatter([te[cost]], [te["val_acc"]], s=160, marker="*", color=TEACHER_COLOUR, edgecolors="#111827",
                       linewidths=0.6, zorder=4, label=f"teacher {te['name']}")
            ax.axhline(te["val_acc"], color=TEACHER_COLOUR, linestyle=":", linewidth=0.9, zorder=1)
        for limit in cost_limits(views, cost):
            for a in (ax, strip):
                if a is not None:
                    a.axvline(limit, color="#6b7280", linestyle="--", linewidth=0.9, zorder=1)
            ax.annotate("limit", (limit, 1.0), xycoords=("data", "axes fraction"), xytext=(-3, -3),
                        textcoords="offset points", ha="right", va="top", fontsize=8, color="#6b7280")
        ax.set_xscale("log")
        ax.set_ylabel(textwrap.fill(axis.title, 40))  # a long score title on two lines, clear of the strip
        if axis.is_loss:
            ax.invert_yaxis()  # up is better on every figure: the loss runs downwards
        elif axis.is_accuracy:
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))  # as many decimals as the range needs
        ax.grid(True, which="major", alpha=0.25)
        title = " vs ".join(v.name for v in views)
        ax.set_title(f"{title}: {axis.short} against {'MACs' if cost == 'macs' else cost}", fontsize=11, loc="left")
        if not drawn:
            ax.text(0.5, 0.5, "no trial with an accuracy yet", transform=ax.transAxes, ha="center", va="center",
                    color="#6b7280")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(frameon=False, fontsize=8, loc="lower right")
        bottom = strip if strip is not None else ax
        if strip is not None:
            strip.set_xscale("log")  # before the tick settings below: setting the scale resets them
        for a in (ax, strip):
            if a is not None:  # labels at 1, 2 and 5 of each decade, as 200K or 1.5M; none on minor ticks
                a.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
                a.xaxis.set_major_formatter(FuncFormatter(_count_label))
                a.xaxis.set_minor_formatter(NullFormatter())
        if strip is not None:
            strip.set_yticks(range(len(UNTRAINED)), list(UNTRAINED), fontsize=8)
            strip.set_ylim(-0.6, len(UNTRAINED) - 0.4)
            strip.grid(True, axis="x", alpha=0.25)
        bottom.set_xlabel({"macs": "MACs (log scale)", "params": "parameters (log scale)",
                           "latency_ms": "latency, ms (log scale)"}[cost])
        png = io.BytesIO()  # rendered in memory, then replaced whole: a page showing it never reads half
        fig.savefig(png, format="png", dpi=200, bbox_inches="tight")
        write_bytes(path, png.getvalue())
        plt.close(fig)
    return path
