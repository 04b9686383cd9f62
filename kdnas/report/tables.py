"""CSV files and terminal tables of a study, read from its storage (never trains)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import optuna
import pandas as pd

from kdnas.atomic import write_text
from kdnas.report.score import ScoreAxis
from kdnas.study import records as R
from kdnas.study.budget import count_rows
from kdnas.study.front import front_frame, trials_frame


@dataclass(frozen=True)
class ReportFiles:
    """Paths written by `write_tables` and the two tables."""

    folder: Path
    pareto_csv: Path
    trials_csv: Path
    front: pd.DataFrame
    trials: pd.DataFrame


def write_frames(folder: Path, front: pd.DataFrame, trials: pd.DataFrame,
                 configs: dict[str, dict] | None = None) -> tuple[Path, Path]:
    """Write `pareto.csv` and `trials.csv` into `folder`, and the resolved config(s) beside them:
    `config.json` for one study, `configs.json` ({name: config}) for several. Each file is replaced
    atomically, so a page open in a browser or a script reading the CSV never sees half a file."""
    pareto_csv, trials_csv = folder / "pareto.csv", folder / "trials.csv"
    write_text(pareto_csv, front.to_csv(index=False))
    write_text(trials_csv, trials.to_csv(index=False))
    if configs and len(configs) == 1:
        (config,) = configs.values()
        if config:
            write_text(folder / "config.json", json.dumps(config, indent=2) + "\n")
    elif configs:
        write_text(folder / "configs.json", json.dumps(configs, indent=2) + "\n")
    return pareto_csv, trials_csv


def write_tables(study: optuna.Study, out_root: Path = Path("reports")) -> ReportFiles:
    """Write `reports/<study>/pareto.csv`, `trials.csv` and the resolved config next to them."""
    folder = out_root / study.study_name
    front, trials = front_frame(study), trials_frame(study)
    cfg = study.user_attrs.get(R.STUDY_CONFIG)
    pareto_csv, trials_csv = write_frames(folder, front, trials, {study.study_name: json.loads(cfg) if cfg else {}})
    return ReportFiles(folder, pareto_csv, trials_csv, front, trials)


def _fmt_count(n: float | None) -> str:
    if n is None or pd.isna(n):
        return "-"
    return f"{n / 1e6:.3f} M" if n >= 1e5 else f"{n / 1e3:.1f} K"


def format_front(front: pd.DataFrame, teacher: dict | None = None, axis: ScoreAxis | None = None) -> str:
    """The front as an aligned text table, with the teacher as a reference line; a study ranked by a
    loss (`axis`) shows that loss in a column of its own."""
    loss = axis is not None and not axis.is_accuracy  # a column of its own for what ranked the study
    head = f"{axis.short:>8}  " if loss else ""  # type: ignore[union-attr]
    lines = [f"{'trial':>5}  {head}{'val_acc':>7}  {'MACs':>10}  {'params':>10}  {'lat ms':>7}  arch"]
    if teacher:
        lat = teacher.get("latency_ms")
        lat_s = "-" if lat is None else f"{lat:.3f}"
        none = f"{'-':>8}  " if loss else ""
        lines.append(f"{'teach':>5}  {none}{teacher['val_acc']:7.4f}  "
                     f"{_fmt_count(teacher['macs']):>10}  {_fmt_count(teacher['params']):>10}  {lat_s:>7}  {teacher['name']}")
    for r in front.itertuples():
        lat = "-" if r.latency_ms is None or pd.isna(r.latency_ms) else f"{r.latency_ms:.3f}"
        score = f"{axis.fmt(r.score):>8}  " if loss else ""  # type: ignore[union-attr]
        acc = "-" if r.val_acc is None or pd.isna(r.val_acc) else f"{r.val_acc:.4f}"  # none measured: similarity
        lines.append(f"{r.trial:>5}  {score}{acc:>7}  {_fmt_count(r.macs):>10}  {_fmt_count(r.params):>10}  "
                     f"{lat:>7}  {r.arch}")
    return "\n".join(lines)


def counts_line(trials: pd.DataFrame) -> str:
    """'12 sampled: 5 trained, 4 ok, 1 failed, 5 infeasible, 2 duplicate' (a `trials_frame`)."""
    if trials.empty:
        return "0 sampled: 0 trained"
    return count_rows(trials["status"], trials["trained"], trials["rung_steps"]).line()
