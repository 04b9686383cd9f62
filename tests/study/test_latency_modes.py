"""`latency.mode`: `table` predicts every student's latency from the space's latency table (limits and
the objective, nothing timed per student), `table_then_measure` screens by the table and times the
students it lets through before training them (a student timed over the limit is not trained); a
block-wise study applies `max_latency_ms` to the students it scores, and re-picks a pick timed over it."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import optuna
from optuna.trial import TrialState

from kdnas.arch import Arch
from kdnas.blockwise.plan import stage_choices
from kdnas.cost import LatencySpec
from kdnas.cost.latency_table import LatencyTable, build_latency_table
from kdnas.execute import LocalExecutor
from kdnas.space import SearchSpace
from kdnas.study import records as R
from kdnas.study.blockwise import STUDY_BLOCKWISE
from kdnas.study.runner import run_search
from kdnas.study.search import load_and_prepare

from tests.studykit import TINY_SPACE, write_study

LATENCY = {"backend": "torch", "warmup": 1, "repeats": 5}  # torch: no export per part, the quickest table
PROXY = {"method": "kd", "steps": 5, "batch_size": 64, "optimizer": "sgd", "lr": 0.05}


def _table() -> tuple[LatencyTable, list[float]]:
    """The tiny space's table at the digits' shape (in the runs folder the study reads too) and the
    predicted latency of every student."""
    space = SearchSpace(**TINY_SPACE)
    table = build_latency_table(space, (1, 8, 8), 10, LatencySpec(**LATENCY))
    ch = stage_choices(space)
    preds = [table.predict(Arch(s, (a, b, c), h)) for s in space.stem for a in ch[0] for b in ch[1] for c in ch[2]
             for h in space.head]
    return table, preds


def _limit_met_both_ways() -> tuple[LatencyTable, list[float], float]:
    """The table, its predictions and a latency limit that some students meet both by the table and
    when timed whole. At 1x8x8 the table predicts less than a whole student measures, at times by more
    than the spread of the predictions, so a limit at the median prediction could refuse every student
    timed (it did, once in a CI run): the limit is at least the median of one timing of every student."""
    from kdnas.study.costs import CostModel

    table, preds = _table()
    space = SearchSpace(**TINY_SPACE)
    timed = CostModel((1, 8, 8), 10, LatencySpec(**LATENCY, mode="table_then_measure"), build=space.builder(),
                      table=table)
    ch = stage_choices(space)  # the students in `_table`'s order
    archs = [Arch(s, (a, b, c), h) for s in space.stem for a in ch[0] for b in ch[1] for c in ch[2] for h in space.head]
    measured = [timed(a).latency_ms for a in archs]
    limit = max(statistics.median(preds), statistics.median(measured))
    assert sum(p <= limit and m <= limit for p, m in zip(preds, measured)) >= len(archs) // 4  # the premise
    return table, preds, limit


def _study(tmp: Path) -> optuna.Study:
    return optuna.load_study(study_name="tiny-study", storage=f"sqlite:///{tmp / 'study.db'}")


def test_mode_table_predicts_limits_and_objective_without_timing_students(tmp_path: Path, teacher_ckpt: Path) -> None:
    table, preds = _table()
    limit = statistics.median(preds)
    path = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)}, proxy=PROXY,
                       objectives=["score", "latency"], budget={"trials": 3}, latency={**LATENCY, "mode": "table"},
                       constraints={"max_latency_ms": limit}, sampler={"name": "random"})
    setup = load_and_prepare(path, verbose=False)
    assert setup.latency_table is not None and setup.latency_table.measured == 0  # read from the cache
    assert run_search(setup, LocalExecutor(), progress=False).trained == 3
    trials = _study(tmp_path).get_trials(states=(TrialState.COMPLETE,))
    ok = [t for t in trials if t.user_attrs[R.STATUS] == R.STATUS_OK]
    over = [t for t in trials if t.user_attrs[R.STATUS] == R.STATUS_INFEASIBLE]
    assert len(ok) == 3
    for t in ok + over:
        predicted = table.predict(Arch.from_str(t.user_attrs[R.ARCH]))
        # the table's sum to the last bit: no student was timed
        assert t.user_attrs[R.LATENCY_MS] == t.user_attrs[R.LATENCY_TABLE_MS] == predicted
        assert t.user_attrs[R.LATENCY_SOURCE] == "table"
    assert all(t.user_attrs[R.LATENCY_MS] <= limit and t.values[1] == t.user_attrs[R.LATENCY_MS] for t in ok)
    assert all(t.user_attrs[R.LATENCY_MS] > limit and "latency table" in t.user_attrs[R.REASON] for t in over)


def test_mode_table_then_measure_times_the_students_it_trains(tmp_path: Path, teacher_ckpt: Path) -> None:
    table, preds, limit = _limit_met_both_ways()
    path = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)}, proxy=PROXY,
                       objectives=["score", "latency"], budget={"trials": 2}, sampler={"name": "random"},
                       latency={**LATENCY, "mode": "table_then_measure"}, constraints={"max_latency_ms": limit})
    assert run_search(load_and_prepare(path, verbose=False), LocalExecutor(), progress=False).trained == 2
    trials = _study(tmp_path).get_trials(states=(TrialState.COMPLETE,))
    for t in trials:
        predicted = table.predict(Arch.from_str(t.user_attrs[R.ARCH]))
        assert t.user_attrs[R.LATENCY_TABLE_MS] == predicted
        if t.user_attrs[R.STATUS] == R.STATUS_OK:  # let through by the table, then timed within the limit
            assert predicted <= limit and t.user_attrs[R.LATENCY_SOURCE] == "measured"
            assert t.user_attrs[R.LATENCY_MS] != predicted and limit >= t.values[1] == t.user_attrs[R.LATENCY_MS] > 0
        elif t.user_attrs[R.LATENCY_SOURCE] == "table":  # refused by the table: never timed
            assert predicted > limit and "(latency table)" in t.user_attrs[R.REASON]
        else:  # let through by the table, refused by its measured latency: both figures recorded
            assert predicted <= limit < t.user_attrs[R.LATENCY_MS] and "measured" in t.user_attrs[R.REASON]


def test_a_limit_between_table_and_measured_latency_refuses_only_what_is_measured() -> None:
    from kdnas.study.config import Constraints
    from kdnas.study.costs import CostModel

    table, _ = _table()
    space = SearchSpace(**TINY_SPACE)
    spec = LatencySpec(**LATENCY)
    ch = stage_choices(space)
    probe = CostModel((1, 8, 8), 10, spec.model_copy(update={"mode": "table_then_measure"}), build=space.builder(),
                      table=table)  # no limit: every student timed, and remembered
    archs = [Arch(4, (ch[0][i], ch[1][i % len(ch[1])], ch[2][i % len(ch[2])]), 0) for i in range(len(ch[0]))]
    arch = max(archs, key=lambda a: probe(a).latency_ms / probe(a).latency_table_ms)
    timed = probe(arch)
    predicted, measured = timed.latency_table_ms, timed.latency_ms
    assert measured > predicted  # the premise: a student the table under-predicts (of several, the most)
    limit = Constraints(max_latency_ms=(predicted + measured) / 2)
    by_table = CostModel((1, 8, 8), 10, spec.model_copy(update={"mode": "table"}), build=space.builder(), table=table,
                         constraints=limit)(arch)
    assert by_table.latency_ms == predicted and by_table.reason(limit) is None  # feasible by the table alone
    # table_then_measure: the table lets it through, its measured latency refuses it; both figures kept
    assert timed.latency_source == "measured" and timed.violations(limit)["max_latency_ms"] > 0
    assert "measured" in timed.reason(limit) and f"{predicted:.3f} ms" in timed.reason(limit)
    assert {R.LATENCY_MS: measured, R.LATENCY_TABLE_MS: predicted}.items() <= timed.latency_attrs().items()
    # a limit under the table's figure refuses it untimed
    below = Constraints(max_latency_ms=predicted / 2)
    screened = CostModel((1, 8, 8), 10, spec.model_copy(update={"mode": "table_then_measure"}), build=space.builder(),
                         table=table, constraints=below)(arch)
    assert screened.latency_source == "table" and "(latency table)" in screened.reason(below)


def test_a_blockwise_study_scores_its_students_against_the_table(tmp_path: Path, teacher_ckpt: Path) -> None:
    table, preds, limit = _limit_met_both_ways()
    proxy = {**PROXY, "method": "blockwise",
             "blockwise": {"steps": 3, "batch_size": 16, "max_samples": 128, "n_students": 500,
                           "advanced": {"val_samples": 64}}}
    path = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)}, proxy=proxy,
                       objectives=["score", "latency"], budget={"trials": 3},
                       latency={**LATENCY, "mode": "table_then_measure"}, constraints={"max_latency_ms": limit})
    setup = load_and_prepare(path, verbose=False)
    assert run_search(setup, LocalExecutor(), progress=False).trained == 3
    study = _study(tmp_path)
    figures = json.loads(study.user_attrs[STUDY_BLOCKWISE])
    assert figures["students_scored"] == len(preds) == setup.space.size()  # tiny: the whole space
    assert figures["students_feasible"] == sum(p <= limit for p in preds)  # the table's limit, vectorised
    assert figures["front_by"] == "latency" and figures["latency_table_parts_timed"] == 0
    done = [t for t in study.get_trials(states=(TrialState.COMPLETE,)) if t.user_attrs[R.STATUS] == R.STATUS_OK]
    assert len(done) == 3
    assert all(t.user_attrs[R.LATENCY_TABLE_MS] == table.predict(Arch.from_str(t.user_attrs[R.ARCH])) <= limit
               for t in done)
    # every pick was timed before it was trained: the trained ones measured within the limit, and
    # each one timed over it was dropped (re-picked), never trained
    assert all(t.user_attrs[R.LATENCY_SOURCE] == "measured" and t.user_attrs[R.LATENCY_MS] <= limit for t in done)
    assert figures["repicks"] == len(figures["refused"])
    assert all(r["latency_over_pct"] > 0 for r in figures["refused"])
    assert not {r["arch"] for r in figures["refused"]} & {t.user_attrs[R.ARCH] for t in study.get_trials()}
