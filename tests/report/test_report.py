"""`build_report` and the report/ls/show commands on studies written straight into SQLite."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from kdnas.cli import main
from kdnas.pareto import hypervolume_2d
from kdnas.report import build_report
from kdnas.report.view import block_usage, hv_macs_scale, hypervolume_curve, load_view, rank_correlation
from kdnas.study.front import front_frame, trials_frame
from tests.report.kit import DEMO_FRONT, TSE_FRONT, add, arch, demo_study, new_study, sqlite_url, tse_study


@pytest.fixture()
def url(tmp_path: Path) -> str:
    return sqlite_url(tmp_path)


def _one_error_line(err: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kdnas: error: "), err
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], lines[0]


def test_report_writes_every_file(url: str, tmp_path: Path) -> None:
    study = demo_study(url)
    rep = build_report([study], tmp_path / "reports", source=url)
    assert rep.folder == tmp_path / "reports" / "demo"
    for p in (rep.index_html, rep.pareto_png, rep.pareto_csv, rep.trials_csv, rep.summary_md):
        assert p.is_file() and p.stat().st_size > 0, p
    assert rep.pareto_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pd.read_csv(rep.pareto_csv)["trial"].tolist() == DEMO_FRONT
    trials = pd.read_csv(rep.trials_csv)
    assert list(trials.columns) == list(trials_frame(study).columns)  # the existing columns, unchanged
    assert len(trials) == 12
    assert json.loads((rep.folder / "config.json").read_text())["name"] == "demo"
    md = rep.summary_md.read_text()
    assert "trials: 12 sampled: 8 trained, 7 ok, 1 failed, 2 infeasible, 1 duplicate, 1 running (budget: 20 trained)" in md
    assert "12 sampled: 8 trained" in rep.index_html.read_text()
    assert "best accuracy: 93.00 %" in md and "teacher resnet20" in md and "hypervolume:" in md
    assert md.count("| `stem_c8") == len(DEMO_FRONT)
    # every file replaced whole (kdnas.atomic): no temporary file left beside them, even on a rebuild
    build_report([study], tmp_path / "reports", source=url)
    assert sorted(p.name for p in rep.folder.iterdir()) == [
        "config.json", "index.html", "pareto.csv", "pareto.png", "summary.md", "trials.csv"]


def test_page_is_self_contained(url: str, tmp_path: Path) -> None:
    page = build_report([demo_study(url)], tmp_path / "reports").index_html.read_text()
    srcs = re.findall(r"<script[^>]*\bsrc\s*=\s*['\"]?([^'\" >]+)", page, flags=re.I)
    assert not [s for s in srcs if s.startswith(("http://", "https://", "//"))], srcs
    assert not srcs  # nothing loaded from anywhere: plotly is inlined
    assert not re.search(r"<link[^>]+href=['\"]?(https?:)?//", page, flags=re.I)
    assert "plotly" in page.lower() and len(page) > 1_000_000  # the library itself is in the file
    assert page.count('id="fig-macs"') == 1 and 'id="front-table"' in page
    table = page[page.index('id="front-table"'):]
    table = table[: table.index("</table>")]
    assert re.findall(r"<tr><td data-v=\"([\d.]+)\">", table) == [f"{float(t)!r}" for t in DEMO_FRONT]
    for text in ("Hypervolume over trials", "Block choices on the front", "resolved config", "CUDA out of memory"):
        assert text in page


def test_front_and_hypervolume_and_blocks(url: str) -> None:
    v = load_view(demo_study(url))
    assert v.front["trial"].tolist() == DEMO_FRONT == front_frame(optuna.load_study(study_name="demo", storage=url))["trial"].tolist()
    scale = hv_macs_scale([v])
    assert scale == pytest.approx(1.1 * 600_000)
    curve = hypervolume_curve(v, scale)
    hv = curve["hypervolume"].to_numpy()
    assert len(hv) == 12 and np.all(np.diff(hv) >= 0)
    ok = v.ok
    want = hypervolume_2d(np.column_stack([-ok["val_acc"], ok["macs"] / scale]), np.array([0.0, 1.0]))
    assert hv[-1] == pytest.approx(want)
    usage = block_usage(v.front)
    assert sum(usage[0]["stem"].values()) == 4 and len(usage) == 4  # stem/head + 3 stages
    assert usage[2]["op"] == {"skip": 3, "dws": 1} and usage[3]["expand"] == {3: 2, 6: 2}
    assert rank_correlation(v) is None  # nothing retrained yet


def test_hypervolume_of_a_halving_study_reads_the_top_rung_only(url: str) -> None:
    # a cheap student left at a short rung (below_top) with a high accuracy would widen the front
    s = new_study(url, "halving")
    add(s, "ok", arch(8, 16), 0.95, macs=100_000, rung_steps=4, below_top=True)
    add(s, "ok", arch(16, 24), 0.80, macs=200_000, rung_steps=4, below_top=True)
    add(s, "ok", arch(16, 24), 0.85, macs=200_000, rung_steps=12, below_top=False)
    v = load_view(s)
    scale = hv_macs_scale([v])
    want = hypervolume_2d(np.array([[-0.85, 200_000 / scale]]), np.array([0.0, 1.0]))
    assert hypervolume_curve(v, scale)["hypervolume"].tolist() == pytest.approx([0.0, 0.0, want])


def test_rank_correlation_when_retrained(url: str, tmp_path: Path) -> None:
    s = new_study(url, "retrained")
    for i, (acc, final) in enumerate([(0.7, 0.80), (0.75, 0.84), (0.8, 0.83), (0.85, 0.9), (0.9, 0.93)]):
        add(s, "ok", arch(8 + 8 * i, 16), acc, macs=100_000 * (i + 1), final_test_acc=final)
    rc = rank_correlation(load_view(s))
    assert rc is not None and rc.n == 5
    assert rc.kendall_tau == pytest.approx(0.8) and rc.spearman_rho == pytest.approx(0.9)
    rep = build_report([s], tmp_path / "reports")
    page = rep.index_html.read_text()
    assert "Proxy score against final accuracy" in page and 'id="fig-corr"' in page and "0.800" in page
    assert "Kendall τ 0.800" in rep.summary_md.read_text()
    assert "final_test_acc" in pd.read_csv(rep.trials_csv).columns


def test_a_study_ranked_by_a_loss_is_reported_by_that_loss(url: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    study = tse_study(url)
    v = load_view(study)
    assert v.axis.kind == "tse" and v.front["trial"].tolist() == TSE_FRONT
    rc = rank_correlation(v)  # the score that ranked, not the accuracy, against the final accuracy
    assert rc is not None and rc.kendall_tau == pytest.approx(1.0)
    rep = build_report([study], tmp_path / "reports")
    page = rep.index_html.read_text()
    assert "TSE against MACs" in page and "proxy.advanced.score: tse" in page and '"autorange":"reversed"' in page
    table = page[page.index('id="front-table"'):]
    table = table[: table.index("</table>")]
    assert re.findall(r"<tr><td data-v=\"([\d.]+)\">", table) == [f"{float(t)!r}" for t in TSE_FRONT]
    assert "<th>TSE</th>" in table and ">1.1000<" in table
    md = rep.summary_md.read_text()
    assert "| trial | TSE | accuracy |" in md and "| 1 | 1.1000 | 75.00 % |" in md
    assert "proxy TSE vs final test accuracy (n=4): Kendall τ 1.000" in md
    assert pd.read_csv(rep.pareto_csv)["score"].tolist() == [-1.2, -1.1, -0.9]
    assert main(["show", "tse", "--storage", url]) == 0
    out = capsys.readouterr().out
    assert "     TSE  val_acc" in out and "  1.1000   0.7500" in out


def test_report_command(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demo_study(url)
    assert main(["report", "demo", "--storage", url, "--reports", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "study demo: 12 sampled: 8 trained" in out and "teach" in out and "index.html" in out
    assert (tmp_path / "r" / "demo" / "index.html").is_file()


def test_empty_study(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new_study(url, "empty")
    assert main(["report", "empty", "--storage", url, "--reports", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "0 sampled: 0 trained" in out and "front is empty" in out
    folder = tmp_path / "r" / "empty"
    page = (folder / "index.html").read_text()
    assert "has no trials yet" in page and 'id="fig-macs"' not in page
    assert "no trials yet" in (folder / "summary.md").read_text()
    assert (folder / "pareto.png").is_file() and pd.read_csv(folder / "pareto.csv").empty


def test_every_trial_failed(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = new_study(url, "broken")
    for i in range(4):
        add(s, "failed", arch(8 * (i + 1), 16), macs=100_000 * (i + 1), reason="non-finite loss (nan) at step 3")
    assert main(["report", "broken", "--storage", url, "--reports", str(tmp_path / "r")]) == 0
    assert "4 sampled: 4 trained, 4 failed" in capsys.readouterr().out
    page = (tmp_path / "r" / "broken" / "index.html").read_text()
    assert "Every trial of this study failed (4 of 4)" in page and "non-finite loss" in page
    assert "every trial failed" in (tmp_path / "r" / "broken" / "summary.md").read_text()


def test_unknown_study_is_one_line(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demo_study(url)
    assert main(["report", "nope", "--storage", url, "--reports", str(tmp_path / "r")]) == 2
    _one_error_line(capsys.readouterr().err, "no study named 'nope'")
    assert main(["show", "nope", "--storage", url]) == 2
    _one_error_line(capsys.readouterr().err, "no study named 'nope'")
    assert main(["ls", "--storage", sqlite_url(tmp_path, "missing.db")]) == 2
    _one_error_line(capsys.readouterr().err, "no storage at")
    assert not (tmp_path / "missing.db").exists()


def test_several_studies_overlaid(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demo_study(url, "tpe")
    demo_study(url, "nsga2", acc_shift=-0.03)
    assert main(["report", "tpe", "nsga2", "--storage", url, "--reports", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "study tpe:" in out and "study nsga2:" in out
    folder = tmp_path / "r" / "tpe+nsga2"
    page = (folder / "index.html").read_text()
    assert "kdnas report: tpe + nsga2" in page
    for name in ("tpe", "nsga2"):  # each study labelled in the legend (plotly's JSON escapes the dot)
        assert f"{name} \\u00b7 front (4)" in page or f"{name} · front (4)" in page
    assert "#0072B2" in page and "#D55E00" in page  # in its own colour
    front = pd.read_csv(folder / "pareto.csv")
    assert front.columns[0] == "study" and sorted(set(front["study"])) == ["nsga2", "tpe"] and len(front) == 8
    assert len(pd.read_csv(folder / "trials.csv")) == 24
    assert set(json.loads((folder / "configs.json").read_text())) == {"tpe", "nsga2"}
    assert main(["report", "tpe", "nsga2", "--storage", url, "--reports", str(tmp_path / "r"), "--out", "samplers"]) == 0
    assert (tmp_path / "r" / "samplers" / "index.html").is_file()


def test_ls(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    demo_study(url, "a")
    new_study(url, "b")
    assert main(["ls", "--storage", url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["study", "trained", "sampled", "ok", "failed", "infeas", "dup", "running", "front", "best"]
    assert out[1].split() == ["a", "8/20", "12", "7", "1", "2", "1", "1", "4", "acc", "0.9300"]
    assert out[2].split() == ["b", "0/20", "0", "0", "0", "0", "0", "0", "0", "-"]
    assert out[3] == f"2 studies in {url}"


def test_show(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    demo_study(url)
    assert main(["show", "demo", "--storage", url]) == 0
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first.startswith("study demo: [") and "8/20 trained (40 %), 1 running, 1 failed (running)" in first
    assert "12 sampled: 8 trained, 7 ok, 1 failed, 2 infeasible, 1 duplicate, 1 running" in out
    rows = [ln.split()[0] for ln in out.splitlines()[3:]]
    assert rows == ["teach", *map(str, DEMO_FRONT)]


def test_optuna_reads_our_storage(url: str) -> None:
    demo_study(url)
    study = optuna.load_study(study_name="demo", storage=url)  # what optuna-dashboard does too
    assert len(study.trials) == 12 and json.loads(study.user_attrs["config"])["name"] == "demo"
    assert sorted(t.number for t in study.best_trials)[:1] == [0]
    assert optuna.get_all_study_names(storage=url) == ["demo"]


def test_report_build_benchmark_runs(tmp_path: Path) -> None:
    from benchmarks.report_build import main as bench_main

    out = tmp_path / "bench"
    assert bench_main(["--trials", "50", "--repeats", "1", "--out-dir", str(out), "--no-fresh-process"]) == 0
    result = json.loads((out / "report-build.json").read_text())
    assert result["n_trials"] == 50 and result["median_s"] > 0 and result["command"].startswith("python -m benchmarks.report_build")
    assert sum(result["trials_by_status"].values()) == 50
    assert "Report build time" in (out / "report-build.md").read_text()


def test_the_latency_setting_goes_with_the_latencies(url: str, tmp_path: Path) -> None:
    from kdnas.study import records as R

    study = demo_study(url)  # its trials have latencies
    spec = {"backend": "onnxruntime", "device": "cpu", "batch_size": 1, "threads": 1, "warmup": 5, "repeats": 20,
            "provider": "CPUExecutionProvider"}
    study.set_user_attr(R.STUDY_LATENCY_SPEC, json.dumps(spec))
    rep = build_report([study], tmp_path / "reports")
    setting = "onnxruntime (CPUExecutionProvider) on cpu, batch 1, 1 thread(s), median of 20"
    assert f"- latency: ms per batch, {setting}" in rep.summary_md.read_text()
    assert f"Latency in ms per batch, measured with {setting}." in rep.index_html.read_text()
    older = {k: v for k, v in spec.items() if k not in ("backend", "provider")}  # stored before the backend existed
    study.set_user_attr(R.STUDY_LATENCY_SPEC, json.dumps(older))
    assert load_view(study).latency_setting == "torch (eager) on cpu, batch 1, 1 thread(s), median of 20"
    table = {**spec, "mode": "table"}  # predicted, not measured: the setting says so
    study.set_user_attr(R.STUDY_LATENCY_SPEC, json.dumps(table))
    assert load_view(study).latency_setting == f"{setting}; predicted by the space's latency table"
