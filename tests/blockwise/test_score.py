"""Scoring and costing many architectures from tables: exact costs, fast scores, sane fronts."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from kdnas.blockwise import BlockTable, CostTable, ScoreTable, plan_blocks, search_table
from kdnas.blockwise.search import pareto_layers
from kdnas.cost import count_macs_params
from kdnas.space import SearchSpace, build_student, load_space

from tests.studykit import TINY_SPACE

ROOT = Path(__file__).resolve().parents[2]
RES = [(8, 8), (4, 4), (2, 2)]  # resnet20 on 8x8 digits


def _fake_table(plan, seed: int = 0) -> BlockTable:
    rng = np.random.default_rng(seed)
    return BlockTable(plan, {(b.group, b.text()): float(rng.uniform(0.2, 1.0)) for b in plan.blocks})


def test_vectorised_costs_equal_thop_on_whole_students() -> None:
    space = SearchSpace.model_validate(TINY_SPACE)
    plan = plan_blocks(space, (8, 8), RES)
    costs = CostTable(space, plan.choices, (1, 8, 8), 10)
    scores = ScoreTable(_fake_table(plan))
    codes = scores.sample(6, seed=3)
    macs, params = costs(codes)
    for row, m, p in zip(codes, macs, params):
        arch = scores.decode(row)
        assert (scores.encode(arch) == row).all()
        assert count_macs_params(build_student(arch, 1, 10), (1, 8, 8)) == (m, p), str(arch)


def test_ten_thousand_students_score_in_well_under_a_second() -> None:
    space = load_space(ROOT / "search_spaces" / "mbv2.yaml")
    plan = plan_blocks(space, (8, 8), RES)
    scores = ScoreTable(_fake_table(plan))
    codes = scores.sample(10_000, seed=0)
    assert len(np.unique(codes, axis=0)) == 10_000
    t0 = time.perf_counter()
    s = scores.score(codes)
    assert time.perf_counter() - t0 < 0.5
    assert np.isfinite(s).all() and s.std() > 0
    # the score is the sum of its per-component parts
    assert np.allclose(scores.components(codes[:50]).sum(1), s[:50])


def test_additive_group_score_matches_the_blocks_it_was_built_from() -> None:
    space = load_space(ROOT / "search_spaces" / "mbv2.yaml")
    plan = plan_blocks(space, (8, 8), RES, include_stem_head=False)
    table = _fake_table(plan)
    scores = ScoreTable(table)
    # the all-reference student scores exactly the sum of the normalised reference chains
    ref = np.array([0, *(plan.choices[j].index(plan.reference[plan.group_of(j)][plan.groups[plan.group_of(j)].index(j)])
                         for j in range(6)), 0])
    assert np.isclose(scores.score(ref[None])[0], scores.base.sum())


def test_pareto_layers_and_search_respect_the_constraint() -> None:
    layer = pareto_layers(np.array([3.0, 2.0, 1.0, 2.5, 1.0]), np.array([1.0, 2.0, 3.0, 3.0, 4.0]))
    assert list(layer) == [0, 0, 0, 1, 1]
    space = SearchSpace.model_validate(TINY_SPACE)
    plan = plan_blocks(space, (8, 8), RES)
    scores = ScoreTable(_fake_table(plan))
    costs = CostTable(space, plan.choices, (1, 8, 8), 10)
    all_macs = costs(scores.sample(1000))[0]
    limit = int(np.median(all_macs))
    found = search_table(scores, costs, n=1000, k=5, max_macs=limit)
    assert found.n_scored == space.size() and 0 < found.n_feasible < found.n_scored and len(found.picked) == 5
    assert all(c.macs <= limit for c in found.picked)
    assert found.score_s < 30


def test_scores_by_block_training_speed_use_it_and_refuse_a_table_without_it() -> None:
    import pytest

    space = SearchSpace.model_validate(TINY_SPACE)
    plan = plan_blocks(space, (8, 8), RES)
    table = _fake_table(plan)
    codes = ScoreTable(table).sample(50, seed=1)
    with pytest.raises(ValueError, match="lacks 'tse'"):
        ScoreTable(table, "tse")
    # training speeds ranking the blocks the other way round reverse every student's order
    table.tse = {k: 2.0 - v for k, v in table.losses.items()}
    by_loss, by_tse = ScoreTable(table).score(codes), ScoreTable(table, "tse").score(codes)
    assert np.corrcoef(by_loss, by_tse)[0, 1] < -0.5
    table.tse = dict(table.losses)
    assert np.allclose(ScoreTable(table, "tse").score(codes), by_loss)


def test_search_by_latency_keeps_the_limit_and_a_latency_front(tmp_path: Path) -> None:
    from kdnas.cost import LatencySpec
    from kdnas.cost.latency_table import build_latency_table

    space = SearchSpace.model_validate(TINY_SPACE)
    plan = plan_blocks(space, (8, 8), RES)
    scores = ScoreTable(_fake_table(plan))
    latency = build_latency_table(space, (1, 8, 8), 10, LatencySpec(backend="torch", warmup=1, repeats=5), cache=tmp_path)
    costs = CostTable(space, plan.choices, (1, 8, 8), 10, latency=latency)
    codes = scores.sample(1000)
    predicted = np.array([latency.predict(scores.decode(row)) for row in codes])
    np.testing.assert_allclose(costs.latency_ms(codes), predicted, rtol=1e-12)
    limit = float(np.median(predicted))
    found = search_table(scores, costs, n=1000, k=5, max_latency_ms=limit, by_latency=True)
    assert found.n_feasible == int((predicted <= limit).sum()) and len(found.picked) == 5
    assert all(c.latency_ms == pytest.approx(latency.predict(c.arch)) and c.latency_ms <= limit for c in found.picked)
    # the first front is on (loss, predicted latency): no feasible student is better in both
    ok = predicted <= limit
    loss = scores.score(codes)
    for c in (c for c in found.picked if c.front == 0):
        assert not np.any(ok & (loss < c.score) & (predicted < c.latency_ms))
    with pytest.raises(ValueError, match="without a latency table"):
        CostTable(space, plan.choices, (1, 8, 8), 10).latency_ms(codes)


def test_a_pick_timed_over_the_limit_is_replaced_by_the_next_ranked(tmp_path: Path) -> None:
    from kdnas.cost import LatencySpec
    from kdnas.cost.latency_table import build_latency_table
    from kdnas.study.config import Constraints
    from kdnas.study.costs import CostModel

    space = SearchSpace.model_validate(TINY_SPACE)
    plan = plan_blocks(space, (8, 8), RES)
    scores = ScoreTable(_fake_table(plan))
    spec = LatencySpec(backend="torch", warmup=1, repeats=5)
    latency = build_latency_table(space, (1, 8, 8), 10, spec, cache=tmp_path)
    costs = CostTable(space, plan.choices, (1, 8, 8), 10, latency=latency)
    table_limit = float(np.median(costs.latency_ms(scores.sample(1000))))
    timed = CostModel((1, 8, 8), 10, spec, build=space.builder())  # each student timed whole once (memoised)
    first = search_table(scores, costs, n=1000, k=3, max_latency_ms=table_limit, by_latency=True)
    assert len(first.picked) == 3 and not first.refused
    measured = sorted(timed(c.arch).latency_ms for c in first.picked)
    limit = (measured[1] + measured[2]) / 2  # the slowest of the first picks is timed over it
    over = Constraints(max_latency_ms=limit)

    found = search_table(scores, costs, n=1000, k=3, max_latency_ms=table_limit, by_latency=True,
                         accept=lambda arch: timed(arch).reason(over) is None)
    assert len(found.picked) == 3 and len(found.refused) >= 1
    assert all(timed(c.arch).latency_ms <= limit for c in found.picked)
    assert all(timed(c.arch).latency_ms > limit for c in found.refused)
    slowest = max(first.picked, key=lambda c: timed(c.arch).latency_ms)
    assert str(slowest.arch) in {str(c.arch) for c in found.refused}
    # the picks the limit let through stay; the re-pick is another feasible student of the table
    assert {str(c.arch) for c in first.picked} - {str(slowest.arch)} <= {str(c.arch) for c in found.picked}
    assert all(c.latency_ms <= table_limit for c in found.picked)
    # a cap on refusals in a row stops the search short rather than timing the whole space
    none = search_table(scores, costs, n=1000, k=3, max_latency_ms=table_limit, accept=lambda arch: False,
                        max_refused=4)
    assert not none.picked and len(none.refused) == 4
