"""A study scored by the similarity proxy: it runs on digits, records what it measured, writes a
front, and stores a resolved config that other studies' shape does not change."""

from __future__ import annotations

import json
import re
from pathlib import Path

import optuna

from kdnas.execute import LocalExecutor
from kdnas.study import records as R
from kdnas.study.config import load_study_config
from kdnas.study.front import front_frame
from kdnas.study.runner import run_search
from kdnas.study.search import load_and_prepare

from tests.studykit import write_study
from tests.test_cli import assert_user_error, kdnas


def test_a_similarity_study_runs_records_its_measure_and_writes_a_front(tmp_path: Path, teacher_ckpt: Path) -> None:
    path = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)},
                       proxy={"method": "similarity", "similarity": {"measure": "cka", "probe_size": 64}},
                       budget={"trials": 4})
    setup = load_and_prepare(path, verbose=False)
    assert setup.ctx.teacher is None  # at initialisation only the probe needs the teacher
    assert run_search(setup, LocalExecutor(), progress=False).trained == 4
    study = optuna.load_study(study_name="tiny-study", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert study.user_attrs[R.STUDY_SCORE] == "similarity"
    probe = json.loads(study.user_attrs[R.STUDY_PROBE])
    assert len(probe) == 64 and probe == list(setup.ctx.probe.indices)  # type: ignore[union-attr]
    stored = json.loads(study.user_attrs[R.STUDY_CONFIG])["proxy"]
    assert stored["similarity"]["measure"] == "cka" and "score" not in stored["advanced"]
    ok = [t for t in study.trials if t.user_attrs.get(R.STATUS) == R.STATUS_OK]
    assert len(ok) == 4
    for t in ok:
        m = t.user_attrs[R.METRICS]
        assert t.values[0] == t.user_attrs[R.SCORE] == m["similarity"] and 0.0 < m["similarity"] <= 1.0
        assert m["similarity_s"] > 0 and m["steps"] == 0.0
        assert t.user_attrs[R.SIMILARITY]["measure"] == "cka" and t.user_attrs[R.SIMILARITY]["probe_size"] == 64
        assert [s for _, s in t.user_attrs[R.SIMILARITY]["stages"]] == [0, 1, 2]  # every teacher stage
    assert len({t.user_attrs[R.SCORE] for t in ok}) > 1  # students differ
    assert not front_frame(study).empty
    # the same file again: the stored config (no advanced.score) matches, nothing is evaluated again
    assert run_search(load_and_prepare(path, verbose=False), LocalExecutor(), progress=False).evaluated_now == 0


def test_other_methods_store_no_similarity_settings(tmp_path: Path) -> None:
    cfg = load_study_config(write_study(tmp_path))
    assert "similarity" not in cfg.resolved()["proxy"]  # studies stored before it existed resume unchanged
    assert cfg.resolved()["proxy"]["advanced"]["score"] == "tse_late"


def test_a_contradictory_similarity_setting_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = write_study(tmp_path, proxy={"method": "similarity", "advanced": {"score": "accuracy"}})
    assert_user_error(kdnas("search", str(path), cwd=tmp_path), "remove 'advanced.score'")
    assert not (tmp_path / "study.db").exists()  # nothing stored


def test_kdnas_search_with_diswot_after_kd_steps_prints_the_front_by_similarity(tmp_path: Path,
                                                                               teacher_ckpt: Path) -> None:
    path = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)},
                       proxy={"method": "similarity", "batch_size": 32,
                              "similarity": {"measure": "diswot", "steps": 3, "probe_size": 32}},
                       budget={"trials": 2})
    proc = kdnas("search", str(path), cwd=tmp_path)  # progress as plain lines: stderr is not a terminal
    assert proc.returncode == 0, proc.stderr
    assert "similarity  val_acc" in proc.stdout
    progress = [ln for ln in proc.stderr.splitlines() if ln.startswith("tiny-study: ")]
    assert progress and all("best similarity " in ln for ln in progress)  # no "best acc nan"
    assert re.search(r"best similarity -\d+\.\d{4} \|", progress[-1])  # diswot: minus a distance
    assert "nan" not in proc.stderr + proc.stdout
    # `kdnas report` on it writes a page ranked by the similarity, and no accuracy shows as nan
    rep = kdnas("report", "tiny-study", "--storage", f"sqlite:///{tmp_path / 'study.db'}", cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr
    page = (tmp_path / "reports" / "tiny-study" / "index.html").read_text()
    summary = (tmp_path / "reports" / "tiny-study" / "summary.md").read_text()
    assert "proxy.method: similarity" in page and "Ranked by proxy.method `similarity`" in summary
    assert "nan" not in summary and "nan" not in rep.stdout
    study = optuna.load_study(study_name="tiny-study", storage=f"sqlite:///{tmp_path / 'study.db'}")
    ok = [t for t in study.trials if t.user_attrs.get(R.STATUS) == R.STATUS_OK]
    assert len(ok) == 2
    for t in ok:
        m = t.user_attrs[R.METRICS]
        assert m["steps"] == 3.0 and m["train_s"] > 0 and m["similarity"] < 0  # diswot: minus a distance
        assert t.user_attrs[R.SIMILARITY]["stages"] == [["stages.2", 2]]  # the last stage only
