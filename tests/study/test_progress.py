"""The search's progress off a terminal: plain lines, no carriage returns."""

from __future__ import annotations

import io

import optuna

from kdnas.study.progress import Progress


def test_without_a_terminal_progress_is_plain_lines() -> None:
    study = optuna.create_study(study_name="p", directions=["maximize", "minimize"])
    out = io.StringIO()  # not a terminal, as a log file or a pipe
    bar = Progress(4, 0, enabled=True, study=study, out=out)
    bar.update(0, "infeasible")  # no new student, and the last line is recent: nothing yet
    bar.update(1, "ok", acc=0.5)
    bar.update(1, "duplicate")
    bar.update(2, "failed")
    bar.close()
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert lines == [
        "p: 1/4 trained | best acc nan | front 0 | running 0 | infeasible 1 | duplicate 0 | failed 0",
        "p: 2/4 trained | best acc nan | front 0 | running 0 | infeasible 1 | duplicate 1 | failed 1",
        "p: 2/4 trained | best acc nan | front 0 | running 0 | infeasible 1 | duplicate 1 | failed 1",
    ]


def test_disabled_progress_writes_nothing() -> None:
    out = io.StringIO()
    bar = Progress(4, 0, enabled=False, study=optuna.create_study(directions=["maximize", "minimize"]), out=out)
    bar.update(1, "ok")
    bar.close()
    assert out.getvalue() == ""
