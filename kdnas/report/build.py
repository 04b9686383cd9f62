"""`kdnas report`: read one or several studies once and write the page, the figure and the tables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import optuna
import pandas as pd

from kdnas.atomic import write_text
from kdnas.report.page import render_page
from kdnas.report.static import write_png
from kdnas.report.summary import render_summary
from kdnas.report.tables import write_frames
from kdnas.report.view import (FINAL_TEST_ACC, Headline, StudyView, headline, hv_macs_scale, hypervolume_curve, load_view,
                               measures_accuracy)


@dataclass(frozen=True)
class Report:
    """What `build_report` wrote, and the views it was built from."""

    folder: Path
    index_html: Path
    pareto_png: Path
    pareto_csv: Path
    trials_csv: Path
    summary_md: Path
    views: tuple[StudyView, ...]
    headlines: tuple[Headline, ...]


def report_name(names: list[str]) -> str:
    """Folder name of a report: the study's name, or 'a+b' for several."""
    return "+".join(names)


def _csv_frames(views: list[StudyView]) -> tuple[pd.DataFrame, pd.DataFrame]:
    def trials_of(v: StudyView) -> pd.DataFrame:
        t = v.trials
        # the retrain column only once retraining has written it, so trials.csv keeps its columns
        return t if t[FINAL_TEST_ACC].notna().any() else t.drop(columns=[FINAL_TEST_ACC])

    if len(views) == 1:
        return views[0].front, trials_of(views[0])
    front = pd.concat([v.front.assign(study=v.name) for v in views], ignore_index=True)
    trials = pd.concat([trials_of(v).assign(study=v.name) for v in views], ignore_index=True)
    first = lambda df: df[["study", *[c for c in df.columns if c != "study"]]]  # noqa: E731
    return first(front), first(trials)


def build_report(studies: list[optuna.Study], out_root: Path = Path("reports"), *, name: str | None = None,
                 source: str = "") -> Report:
    """Write `<out_root>/<name>/`: index.html, pareto.png, pareto.csv, trials.csv, summary.md (+ config).

    Only reads the storage (one pass per study), so a study that is still running can be
    reported at any time; the page is a snapshot of that moment.
    """
    views = [load_view(s) for s in studies]
    folder = Path(out_root) / (name or report_name([v.name for v in views]))
    folder.mkdir(parents=True, exist_ok=True)
    scale = hv_macs_scale(views)
    curves = {v.name: hypervolume_curve(v, scale) for v in views if measures_accuracy(v)}
    heads = [headline(v, scale) for v in views]

    front, trials = _csv_frames(views)
    pareto_csv, trials_csv = write_frames(folder, front, trials, {v.name: v.config for v in views})
    index_html = folder / "index.html"
    write_text(index_html, render_page(views, heads, curves, scale, source))
    pareto_png = write_png(views, folder / "pareto.png")
    summary_md = folder / "summary.md"
    write_text(summary_md, render_summary(views, heads, scale))
    return Report(folder, index_html, pareto_png, pareto_csv, trials_csv, summary_md, tuple(views), tuple(heads))
