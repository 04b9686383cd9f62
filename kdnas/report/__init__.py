"""Reports: read studies from storage (never train) and write a page, a figure and tables.

`build_report` (kdnas.report.build) writes index.html, pareto.png, CSVs and summary.md; it is
imported on use, so commands that only need the tables do not pay for plotly and matplotlib.
"""

from __future__ import annotations

from typing import Any

from kdnas.report.tables import ReportFiles, counts_line, format_front, write_tables

__all__ = ["Report", "ReportFiles", "build_report", "counts_line", "format_front", "write_tables"]


def __getattr__(name: str) -> Any:
    if name in ("Report", "build_report"):
        from kdnas.report import build

        return getattr(build, name)
    raise AttributeError(f"module 'kdnas.report' has no attribute {name!r}")
