"""`python -m benchmarks.fidelity` end to end on digits: every proxy is scored against a trained ground truth,
the teacher may see more training images than the students, and a second run reads its caches."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import torch
import yaml
from scipy import stats

from benchmarks.fidelity import main
from kdnas.distill.spec import ProxySpec
from kdnas.errors import UserError

ROOT = Path(__file__).resolve().parents[2]  # the checkout: `python -m benchmarks.X` runs from there
# mbv2's shape with few choices: its block table trains in about a second instead of mbv2's 114 blocks
SPACE = Path(__file__).resolve().parent / "panel_space.yaml"

ARGS = ["--data", "digits", "--space", str(SPACE), "--panel", "5", "--train-subset", "400", "--val-subset", "200", "--test-subset", "300",
        "--teacher-train", "900", "--teacher-epochs", "5", "--gt-epochs", "5", "--gt-batch", "32", "--short-steps", "5,10",
        "--block-steps", "40", "--block-samples", "64", "--boot", "30", "--threads", "1"]


def test_every_proxy_is_ranked_against_a_trained_ground_truth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("KDNAS_RUNS", str(tmp_path / "runs"))
    assert main([*ARGS, "--out-dir", str(tmp_path / "out")]) == 0
    r = json.loads((tmp_path / "out" / "fidelity-digits.json").read_text())
    assert r["teacher"]["train_samples"] == 900 and r["teacher"]["test_acc"] > 0.3
    assert r["short_kd"]["bn_recalibration"] == 2048
    assert r["space"] == "tests/benchmarks/panel_space.yaml"  # not one machine's absolute path
    panel = r["panel"]
    assert len(panel) == 5 and len({p["arch"] for p in panel}) == 5
    assert all(p["gt"]["acc"] > 0.2 for p in panel)  # 5 epochs of KD learn digits well above chance (0.1)
    assert len({round(p["gt"]["acc"], 4) for p in panel}) > 1
    expected = {f"kd@{n}{v}" for n in (5, 10) for v in ("", "-valloss", "-tse", "-tselate")}
    expected |= {"blockwise", "blockwise_tse", "blockwise_stitched", "blockwise_stitched_acc", "blockwise_stages", "blockwise_fit", "synflow", "naswot", "macs_proxy",
                 "params_proxy"}
    assert set(r["proxies"]) == expected
    # every block result the report keeps has its training speed, and the two block-wise scores differ
    assert all(rec["tse"] > 0 for rec in r["block_table"]["records"])
    assert [p["blockwise_tse"]["score"] for p in panel] != [p["blockwise"]["score"] for p in panel]
    # every student stitched from its trained blocks: a KD loss to the teacher and an accuracy, which
    # differ across the panel
    for p in panel:
        st = p["blockwise_stitched"]
        assert st["score"] == -st["kd"] < 0 and 0 <= st["acc"] <= 1 and st["ce"] > 0
        assert p["blockwise_stitched_acc"]["score"] == st["acc"]
    assert len({round(p["blockwise_stitched"]["kd"], 6) for p in panel}) == len(panel)
    for name, p in r["proxies"].items():
        assert -1 <= p["tau"] <= 1 and p["tau_ci"][0] <= p["tau_ci"][1], name
    assert r["proxies"]["kd@10"]["student_epochs_per_arch"] == pytest.approx(10 * 64 / 400)
    for p in panel:  # one short run, three scores: the training-speed one costs no evaluation pass
        assert p["kd@10-tse"]["seconds"] < p["kd@10"]["seconds"] == p["kd@10-valloss"]["seconds"]
        assert p["kd@10-tselate"]["seconds"] == p["kd@10-tse"]["seconds"]
        assert p["kd@10-tselate"]["score"] > p["kd@10-tse"]["score"]  # the second half's losses lie below the mean
        assert p["kd@10-tse"]["score"] < 0 and p["kd@10-valloss"]["score"] < 0
    # the validation loss and the accuracy of the same run mostly agree on who is better
    assert stats.kendalltau([p["kd@10-valloss"]["score"] for p in panel], [p["kd@10"]["score"] for p in panel])[0] > 0
    parts = r["blockwise_by_component"]
    assert [p["component"] for p in parts] == ["stem", "teacher stage 0 (student stages 0, 1)",
                                               "teacher stage 1 (student stages 2, 3)",
                                               "teacher stage 2 (student stages 4, 5)", "head"]
    gt = [p["gt"]["acc"] for p in panel]
    for i, part in enumerate(parts):  # each component's own ranking of the panel, lower loss ranking higher
        tau = stats.kendalltau([-p["blockwise_components"][i] for p in panel], gt)[0]
        assert part["tau"] == pytest.approx(tau, nan_ok=True), part["component"]
    md = (tmp_path / "out" / "fidelity-digits.md").read_text()
    assert "## Block-wise, one component at a time" in md and "| head |" in md
    assert "## Targets" in md and "900 training images" in md and "recomputed on 2048" in md
    # the report says how a study asks for its short runs, in a form a study file accepts
    said = re.search(r"row `kd@N` by `proxy: (\{[^`]*\})`", md).group(1).replace("steps: N", "steps: 10")
    spec = ProxySpec.model_validate(yaml.safe_load(said))
    assert (spec.optimizer, spec.lr, spec.batch_size) == (r["short_kd"]["optimizer"], r["short_kd"]["lr"], 64)
    assert spec.advanced.bn_recalibration == r["short_kd"]["bn_recalibration"] and spec.advanced.score == "accuracy"
    assert (tmp_path / "out" / "fidelity-digits.png").stat().st_size > 0
    assert "Proxy fidelity on digits" in capsys.readouterr().out

    # the teacher, the block table and every ground-truth run come from the caches the second time, at another
    # thread count too (threads are not part of a recipe); short runs are trained again, their seconds being measured
    main([*ARGS, "--out-dir", str(tmp_path / "again"), "--threads", "2"])
    again = json.loads((tmp_path / "again" / "fidelity-digits.json").read_text())
    assert again["block_table"]["trained"] == 0 and again["teacher"]["sha256"] == r["teacher"]["sha256"]
    # the table's cost is reported from its blocks' records, also when none was trained in this run
    assert again["proxies"]["blockwise"]["table_seconds"] == pytest.approx(r["proxies"]["blockwise"]["table_seconds"])
    assert r["proxies"]["blockwise"]["table_seconds"] > 0
    assert [p["gt"] for p in again["panel"]] == [p["gt"] for p in panel]
    assert r["runs_now"] == {"gt": 5, "short": 10, "gt_imported": 0, "gt_total": 5, "short_total": 10}
    # short runs are keyed by their thread count (their seconds are measured), ground truths are not
    assert again["runs_now"] == {"gt": 0, "short": 10, "gt_imported": 0, "gt_total": 5, "short_total": 10}
    assert "0 of 5 ground-truth runs and 10 of 10 short runs were trained" in (
        tmp_path / "again" / "fidelity-digits.md").read_text()

    # the same panel's ground truth trained again with another seed: the first seed's runs are reused, the
    # ground truth is the mean of the two, and the report says how alike the seeds rank the panel
    main([*ARGS, "--out-dir", str(tmp_path / "out"), "--gt-seeds", "0,1", "--name", "seeds01"])
    two = json.loads((tmp_path / "out" / "seeds01.json").read_text())
    assert two["runs_now"]["gt"] == 5 and two["runs_now"]["short"] == 0  # seed 1's runs only
    assert [p["arch"] for p in two["panel"]] == [p["arch"] for p in panel] and two["ground_truth"]["seeds"] == [0, 1]
    for p1, p2 in zip(panel, two["panel"]):
        assert [run["seed"] for run in p2["gt"]["runs"]] == [0, 1]
        assert p2["gt"]["runs"][0]["acc"] == p1["gt"]["acc"]
        assert p2["gt"]["acc"] == pytest.approx(sum(run["acc"] for run in p2["gt"]["runs"]) / 2)
        assert p2["kd@10"]["score"] == p1["kd@10"]["score"]  # cached
    seed1 = [p["gt"]["runs"][1]["acc"] for p in two["panel"]]
    assert seed1 != [p["gt"]["acc"] for p in panel]
    agree = two["ground_truth"]["seed_agreement"]
    assert len(agree["pairs"]) == 1 and -1 <= agree["tau"] <= 1
    assert agree["max_abs_diff"] == pytest.approx(max(abs(p["gt"]["runs"][0]["acc"] - p["gt"]["runs"][1]["acc"])
                                                      for p in two["panel"]))
    assert all(-1 <= p["tau_single_seed"] <= 1 for p in two["proxies"].values())
    md = (tmp_path / "out" / "seeds01.md").read_text()
    assert "seeds 0, 1 (an architecture's ground truth is its mean over them)" in md and "seeds 0-1 tau" in md


@pytest.mark.research
def test_another_panel_seed_draws_a_held_out_panel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KDNAS_RUNS", str(tmp_path / "runs"))
    small = [*ARGS, "--space", str(ROOT / "search_spaces" / "mbv2.yaml"), "--block-steps", "4", "--panel", "3",
             "--gt-epochs", "1", "--short-steps", "2", "--out-dir", str(tmp_path)]
    main([*small, "--name", "first"])
    main([*small, "--panel-seed", "1", "--short-optimizer", "adamw", "--short-lr", "0.003", "--name", "held"])
    first, held = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("first", "held"))
    assert {p["arch"] for p in first["panel"]}.isdisjoint(p["arch"] for p in held["panel"])
    # the same teacher and block table, so the two panels' figures can be read side by side
    assert held["teacher"]["sha256"] == first["teacher"]["sha256"] and held["block_table"]["trained"] == 0
    assert held["short_kd"]["optimizer"] == "adamw" and "AdamW lr 0.003" in (tmp_path / "held.md").read_text()


@pytest.mark.research
def test_jobs_share_the_runs_between_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capfd: pytest.CaptureFixture[str]) -> None:
    """--jobs 2: a helper process takes part of the runs (each made once), and the figures are the
    ones a single process makes."""
    args = [*ARGS, "--panel", "4", "--gt-epochs", "8", "--short-steps", "5", "--out-dir", str(tmp_path)]
    monkeypatch.setenv("KDNAS_RUNS", str(tmp_path / "shared"))
    assert main([*args, "--jobs", "2", "--name", "two"]) == 0
    two = json.loads((tmp_path / "two.json").read_text())
    cache = tmp_path / "shared" / "cache" / "fidelity"
    made_by = [json.loads(f.read_text())["made_by"] for f in cache.glob("*.json")]
    assert len(made_by) == 8 and len(set(made_by)) == 2 and os.getpid() in made_by
    assert two["jobs"] == 2 and two["runs_now"]["gt"] == 4 and two["runs_now"]["short"] == 4
    assert "made_by" not in two["panel"][0]["gt"]["runs"][0]
    assert not list(cache.glob("*.claim"))
    bt = two["block_table"]  # a fresh cache: every block trained by this process or the helper
    assert bt["cached"] == 0 and bt["trained"] + bt["by_other_jobs"] == bt["blocks"]
    assert "(--jobs 2)" in (tmp_path / "two.md").read_text()
    helper = next(p for p in made_by if p != os.getpid())
    err = capfd.readouterr().err  # the helper's lines are told apart from this process's
    assert f"[helper {helper}] panel: 4 architectures" in err and "\npanel: 4 architectures" in err
    # the helper's records, made again by this process alone, are the same figures
    for f in cache.glob("*.json"):
        if json.loads(f.read_text())["made_by"] != os.getpid():
            f.unlink()
    main([*args, "--name", "one"])
    one = json.loads((tmp_path / "one.json").read_text())
    assert [p["gt"]["acc"] for p in one["panel"]] == [p["gt"]["acc"] for p in two["panel"]]
    assert [p["kd@5"]["score"] for p in one["panel"]] == [p["kd@5"]["score"] for p in two["panel"]]


def _alive(pid: int) -> bool:
    try:  # a zombie (exited, not yet reaped by its new parent) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_helper_stops_when_its_benchmark_is_killed(tmp_path: Path) -> None:
    """--jobs 2 whose main process is killed (SIGKILL: no handler runs) does not leave its helper
    training runs nobody will read."""
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "KDNAS_RUNS": str(tmp_path / "runs")}
    args = [*ARGS, "--gt-epochs", "400", "--out-dir", str(tmp_path), "--jobs", "2"]
    main_proc = subprocess.Popen([sys.executable, "-m", "benchmarks.fidelity", *args], env=env, cwd=ROOT,
                                 stderr=subprocess.PIPE, text=True)
    helper = None
    for line in main_proc.stderr:  # the helper's lines are prefixed with its pid once it has started
        m = re.match(r"\[helper (\d+)\] data:", line)
        if m:
            helper = int(m.group(1))
            break
    assert helper is not None and _alive(helper)
    main_proc.send_signal(signal.SIGKILL)
    main_proc.wait()
    deadline = time.monotonic() + 20
    while _alive(helper) and time.monotonic() < deadline:
        time.sleep(0.2)
    main_proc.stderr.close()
    assert not _alive(helper)


def test_jobs_or_gt_test_subset_below_one_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="--jobs"):
        main([*ARGS, "--jobs", "0", "--out-dir", str(tmp_path)])
    with pytest.raises(UserError, match="--gt-test-subset must be at least 1"):
        main([*ARGS, "--gt-test-subset", "0", "--out-dir", str(tmp_path)])


@pytest.mark.research
def test_a_reports_ground_truth_is_taken_instead_of_trained_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture) -> None:
    """A fresh checkout scores proxies against a committed report's ground truth without training it,
    starting from the teacher the report keeps beside it; runs are taken only under the same
    teacher, data and recipe."""
    small = [*ARGS, "--panel", "3", "--gt-epochs", "2", "--short-steps", "2", "--out-dir", str(tmp_path)]
    monkeypatch.setenv("KDNAS_RUNS", str(tmp_path / "here"))
    main([*small, "--gt-seeds", "0,1", "--name", "committed"])
    committed = json.loads((tmp_path / "committed.json").read_text())
    assert committed["runs_now"]["gt"] == 6 and committed["runs_now"]["gt_imported"] == 0
    kept = tmp_path / committed["teacher"]["checkpoint"]
    assert kept.parent.name == "teachers" and committed["teacher"]["sha256"].startswith(kept.stem)
    source = tmp_path / "committed.json"
    said = (tmp_path / "committed.md").read_text()  # the report says how to reuse its ground truth
    assert f"kept in `{committed['teacher']['checkpoint']}`" in said and f"--ground-truth-from {source}`" in said

    monkeypatch.setenv("KDNAS_RUNS", str(tmp_path / "elsewhere"))  # another machine: nothing cached
    elsewhere = tmp_path / "elsewhere"
    # a report under another recipe is refused before anything is stored, its teacher included
    with pytest.raises(UserError, match="another recipe"):
        main([*small, "--gt-epochs", "3", "--ground-truth-from", str(source), "--name", "x"])
    # a report whose kept teacher is not the one its ground truth names
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**committed, "teacher": {**committed["teacher"], "sha256": "0" * 64}}))
    with pytest.raises(UserError, match="is not the teacher its ground truth names"):
        main([*small, "--ground-truth-from", str(forged), "--name", "x"])
    assert not [f for f in elsewhere.rglob("*") if f.is_file() and "data" not in f.parts] and not (tmp_path / "x.json").exists()
    capsys.readouterr()

    # (no stitched scores: they need the blocks' weights, which a report does not keep)
    main([*small, "--gt-seeds", "0,1", "--ground-truth-from", str(source), "--name", "reused", "--no-stitch"])
    err = capsys.readouterr().err
    assert "taken from" in err and "training teacher" not in err
    reused = json.loads((tmp_path / "reused.json").read_text())
    assert reused["teacher"]["sha256"] == committed["teacher"]["sha256"]
    assert reused["runs_now"]["gt"] == 0 and reused["runs_now"]["gt_imported"] == 6
    assert reused["runs_now"]["short"] == 3  # the proxies are measured here
    assert "blockwise_stitched" in committed["proxies"] and "blockwise_stitched" not in reused["proxies"]
    # and the block table is taken from the report too: no block trained here, the same scores
    assert len(committed["block_table"]["records"]) == committed["block_table"]["blocks"]
    assert reused["block_table"]["trained"] == 0 and reused["block_table"]["cached"] == committed["block_table"]["blocks"]
    assert [p["blockwise"]["score"] for p in reused["panel"]] == [p["blockwise"]["score"] for p in committed["panel"]]
    for mine, theirs in zip(reused["panel"], committed["panel"]):
        assert mine["arch"] == theirs["arch"] and mine["gt"]["acc"] == theirs["gt"]["acc"]
        assert all(run["imported_from"] == str(source) for run in mine["gt"]["runs"])
    assert reused["proxies"]["kd@2"]["tau"] == pytest.approx(committed["proxies"]["kd@2"]["tau"])
    assert "6 ground-truth runs there came from committed reports" in (tmp_path / "reused.md").read_text()
    # a seed the report lacks is trained here, next to the imported ones
    main([*small, "--gt-seeds", "0,2", "--ground-truth-from", str(source), "--name", "more", "--no-stitch"])
    more = json.loads((tmp_path / "more.json").read_text())
    assert more["runs_now"]["gt"] == 3 and more["runs_now"]["gt_imported"] == 3

    # a checkout that already has another teacher under these flags keeps it, and takes no run
    monkeypatch.setenv("KDNAS_RUNS", str(tmp_path / "third"))
    teachers = tmp_path / "third" / "teachers"
    teachers.mkdir(parents=True)
    blob = torch.load(kept, weights_only=True)
    name = next(iter(blob["state"]))
    blob["state"][name] = blob["state"][name] + 0.01
    torch.save(blob, teachers / next((elsewhere / "teachers").glob("*.pt")).name)
    with pytest.raises(UserError, match="another teacher"):
        main([*small, "--ground-truth-from", str(source), "--name", "x"])
    assert not (tmp_path / "third" / "cache" / "fidelity").exists()


@pytest.mark.research
def test_a_larger_ground_truth_test_set_retrains_only_the_ground_truth(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """--gt-test-subset scores the ground truth on more test images: the teacher, the block table and the
    short runs (which never see the test split) come from the caches, the ground-truth runs are keyed and
    trained anew, and a report scored on one test set is not taken for another."""
    small = [*ARGS, "--panel", "3", "--gt-epochs", "1", "--short-steps", "2", "--test-subset", "200",
             "--no-stitch", "--out-dir", str(tmp_path)]
    monkeypatch.setenv("KDNAS_RUNS", str(tmp_path / "runs"))
    main([*small, "--name", "t200"])
    main([*small, "--gt-test-subset", "350", "--name", "t350"])
    t200, t350 = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("t200", "t350"))
    assert t350["teacher"]["sha256"] == t200["teacher"]["sha256"] and t350["block_table"]["trained"] == 0
    assert t350["runs_now"]["gt"] == 3 and t350["runs_now"]["short"] == 0
    assert [p["arch"] for p in t350["panel"]] == [p["arch"] for p in t200["panel"]]
    assert [p["kd@2"]["score"] for p in t350["panel"]] == [p["kd@2"]["score"] for p in t200["panel"]]
    assert t200["ground_truth"]["recipe"].endswith("test accuracy on 200 images")
    assert t350["ground_truth"]["recipe"].endswith("test accuracy on 350 images")
    assert t350["data"]["fingerprint"] == t200["data"]["fingerprint"] == t200["ground_truth"]["data_fingerprint"]
    assert t350["ground_truth"]["data_fingerprint"] != t200["ground_truth"]["data_fingerprint"]
    # the same students trained the same way, scored on 350 images instead of 200
    assert [p["gt"]["acc"] for p in t350["panel"]] != [p["gt"]["acc"] for p in t200["panel"]]
    assert all(round(p["gt"]["acc"] * 350) == pytest.approx(p["gt"]["acc"] * 350) for p in t350["panel"])

    monkeypatch.setenv("KDNAS_RUNS", str(tmp_path / "elsewhere"))
    with pytest.raises(UserError, match="other data"):
        main([*small, "--ground-truth-from", str(tmp_path / "t350.json"), "--name", "x"])
    main([*small, "--gt-test-subset", "350", "--ground-truth-from", str(tmp_path / "t350.json"), "--name", "y"])
    assert json.loads((tmp_path / "y.json").read_text())["runs_now"]["gt_imported"] == 3
