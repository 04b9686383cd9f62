"""Colours, markers and number formats shared by the HTML page, the PNG and the terminal."""

from __future__ import annotations

import math

#: One colour per study on an overlaid page (colour-blind safe, Okabe-Ito order).
STUDY_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
#: Colours by status when a page shows a single study.
STATUS_COLOURS = {"ok": "#0072B2", "duplicate": "#56B4E9", "infeasible": "#8a8f98", "failed": "#D62728",
                  "running": "#E69F00"}
TEACHER_COLOUR = "#C9A100"
#: Plotly marker symbols by role (the matplotlib figure maps them to its own markers).
PLOTLY_SYMBOLS = {"front": "circle", "ok": "circle", "duplicate": "circle-open", "infeasible": "x",
                  "failed": "triangle-down", "running": "hourglass", "teacher": "star"}
MPL_MARKERS = {"front": "o", "ok": "o", "duplicate": "o", "infeasible": "x", "failed": "v", "running": "d",
               "teacher": "*"}

COST_LABELS = {"macs": "MACs", "params": "parameters", "latency_ms": "latency (ms)"}


def study_colour(i: int) -> str:
    return STUDY_COLOURS[i % len(STUDY_COLOURS)]


def missing(x: object) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt_count(n: object) -> str:
    """1234567 -> '1.23 M', 45600 -> '45.6 K'; '-' when missing."""
    if missing(n):
        return "-"
    v = float(n)  # type: ignore[arg-type]
    if v >= 1e9:
        return f"{v / 1e9:.2f} G"
    if v >= 1e6:
        return f"{v / 1e6:.2f} M"
    if v >= 1e3:
        return f"{v / 1e3:.1f} K"
    return f"{v:.0f}"


def fmt_acc(a: object) -> str:
    return "-" if missing(a) else f"{100 * float(a):.2f} %"  # type: ignore[arg-type]


def fmt_ms(ms: object) -> str:
    return "-" if missing(ms) else f"{float(ms):.3f} ms"  # type: ignore[arg-type]


def fmt_cost(col: str, v: object) -> str:
    return fmt_ms(v) if col == "latency_ms" else fmt_count(v)
