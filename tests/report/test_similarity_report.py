"""A study ranked by the similarity proxy is reported by the similarity: its own column, an axis
that is not reversed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from kdnas.cli import main
from kdnas.report import build_report
from kdnas.report.view import load_view
from tests.report.kit import add, arch, new_study, sqlite_url


def test_a_study_ranked_by_similarity_is_reported_by_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = sqlite_url(tmp_path)
    study = new_study(url, "sim", proxy={"method": "similarity", "similarity": {"measure": "cka"}})
    # no accuracy is measured; the front in (similarity, MACs) is trials 0, 1, 3
    for i, sim in enumerate([0.40, 0.55, 0.50, 0.70]):
        add(study, "ok", arch(8 + 8 * i, 16), None, macs=100_000 * (i + 1), score=sim)
    v = load_view(study)
    assert v.axis.kind == "similarity" and v.front["trial"].tolist() == [0, 1, 3]
    rep = build_report([study], tmp_path / "reports")
    page = rep.index_html.read_text()
    assert "Similarity against MACs" in page and "proxy.method: similarity" in page
    assert '"autorange":"reversed"' not in page  # higher is better, drawn upwards
    table = page[page.index('id="front-table"'):]
    assert "<th>similarity</th>" in table[: table.index("</table>")] and ">0.7000<" in table
    md = rep.summary_md.read_text()
    assert "Ranked by proxy.method `similarity`" in md and "| 3 | 0.7000 | - |" in md
    # no accuracy, so no hypervolume: not a 0.0000 that reads as a poor front
    assert "- hypervolume: none (the trials measure no accuracy" in md and "Hypervolume: hypervolume of" not in md
    assert "Hypervolume over trials" not in page and '<div class="k">hypervolume</div>' not in page
    assert pd.read_csv(rep.pareto_csv)["score"].tolist() == [0.40, 0.55, 0.70]
    assert main(["show", "sim", "--storage", url]) == 0
    assert "similarity  val_acc" in capsys.readouterr().out
    assert main(["ls", "--storage", url]) == 0  # its best is the similarity, named so: no accuracy was measured
    assert capsys.readouterr().out.splitlines()[1].split()[-2:] == ["sim", "0.7000"]
