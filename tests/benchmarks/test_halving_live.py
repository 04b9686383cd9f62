"""`python -m benchmarks.halving_live` end to end on digits: two real `kdnas search` processes side by
side, their study files alike but for `search`, and a report of both fronts on one MAC scale."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import yaml
from optuna.trial import FrozenTrial, TrialState

from benchmarks.halving_live import main, parse_args, promotion_audit, study_dict
from kdnas.study import records as R
from tests.studykit import TINY_SPACE


def test_two_searches_side_by_side_reported_on_one_scale(tmp_path: Path, teacher_ckpt: Path) -> None:
    space = tmp_path / "tiny.yaml"
    space.write_text(yaml.safe_dump(TINY_SPACE))
    argv = ["--data", "digits", "--train-subset", "1000", "--val-subset", "200", "--teacher", str(teacher_ckpt),
            "--space", str(space), "--max-macs", "60000", "--steps", "9", "--min-steps", "3", "--eta", "3",
            "--minutes", "0.04", "--sampler", "random", "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    r = json.loads((tmp_path / "out" / "halving-live.json").read_text())
    (p,) = r["pairs"]
    plain, halving = p["sides"]["plain"], p["sides"]["halving"]
    assert p["macs_scale"] == 60000  # one scale for both: their max_macs
    assert plain["rungs"] == [9] and halving["rungs"] == [3, 9]
    # both ran on time, not on trials: plain's steps are whole runs, halving's are rungs' differences
    assert plain["student_steps"] == 9 * plain["trained_per_rung"]["9"] > 0
    assert halving["student_steps"] == 3 * halving["trained_per_rung"]["3"] + 6 * halving["trained_per_rung"]["9"]
    assert halving["students_sampled"] >= halving["trained_per_rung"]["3"] >= halving["trained_per_rung"]["9"]
    # every promotion was one the rule allowed when it started
    assert halving["promotions"]["n"] == halving["promotions"]["follow_the_rule"] == halving["trained_per_rung"]["9"]
    assert plain["promotions"]["n"] == 0
    assert 0 < plain["hypervolume"] < 1 and 0 <= halving["hypervolume"] < 1
    assert all(0 < m["macs"] <= 60000 for m in plain["front"] + halving["front"])
    assert set(p["wall_s"]) == {"plain", "halving"} and all(w > 0 for w in p["wall_s"].values())
    md = (tmp_path / "out" / "halving-live.md").read_text()
    assert "python -m benchmarks.halving_live --data digits" in md and "| halving |" in md

    # the two study files differ only in `search` (and where their storage is)
    a = parse_args(argv)
    sides = [study_dict(a, s, 0, tmp_path / s) for s in ("plain", "halving")]
    diff = {k for k in sides[0] if sides[0][k] != sides[1][k]}
    assert diff == {"search", "storage"}

    # a finished pair is kept: asking again reports it without running the searches again
    (kept,) = (tmp_path / "work").glob("*/seed0/timing.json")
    mtime = kept.stat().st_mtime
    assert main(argv) == 0
    assert json.loads((tmp_path / "out" / "halving-live.json").read_text())["pairs"] == r["pairs"]
    assert kept.stat().st_mtime == mtime


def _trial(number: int, attrs: dict, values: list[float], start: int, end: int | None = None) -> FrozenTrial:
    t0 = datetime(2026, 1, 1)
    return FrozenTrial(number=number, state=TrialState.COMPLETE if end else TrialState.RUNNING, value=None,
                       values=values if end else None, datetime_start=t0 + timedelta(seconds=start),
                       datetime_complete=t0 + timedelta(seconds=end) if end else None, params={}, distributions={},
                       user_attrs=attrs, system_attrs={}, intermediate_values={}, trial_id=number)


def test_promotion_audit_checks_each_promotion_against_the_rule() -> None:
    ok = {R.STATUS: R.STATUS_OK, R.RUNG: 0}
    trials = [_trial(0, {**ok, R.ARCH: "a0"}, [0.5, 1.0], 0, 1),  # cheapest
              _trial(1, {**ok, R.ARCH: "a1"}, [0.4, 2.0], 1, 2),  # dominated
              _trial(2, {**ok, R.ARCH: "a2"}, [0.9, 3.0], 2, 3),  # best score: first of three (eta 3)
              _trial(3, {R.ARCH: "a2", R.RUNG: 1, R.PROMOTED_FROM: 2}, [], 4),   # the rule's pick, just in
              _trial(4, {R.ARCH: "a0", R.RUNG: 1, R.PROMOTED_FROM: 0}, [], 5)]   # not promotable: 1 of 3 went
    assert promotion_audit(trials, eta=3) == {"n": 2, "follow_the_rule": 1, "of_the_newest_result": 1}
