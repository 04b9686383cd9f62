"""The promotion rule of successive halving: rungs, Pareto-rank then ε-net order, ASHA's top 1/eta."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from kdnas.pareto import non_dominated_sort
from kdnas.study.halving import next_promotion, priority_order, promotable, rungs


def test_rungs_are_powers_of_eta_below_the_top_then_the_top():
    assert rungs(30, 3, 270) == [30, 90, 270]
    assert rungs(30, 3, 300) == [30, 90, 270, 300]
    assert rungs(10, 2, 50) == [10, 20, 40, 50]
    assert rungs(300, 3, 270) == [270]
    assert rungs(270, 3, 270) == [270]


@pytest.mark.parametrize("args", [(0, 3, 100), (10, 1, 100), (10, 3, 0)])
def test_rungs_refuse_nonsense(args):
    with pytest.raises(ValueError):
        rungs(*args)


def test_nothing_is_promoted_below_eta_results():
    results = {"a": (0.9, 1e6), "b": (0.5, 2e6)}
    assert promotable(results, set(), eta=3) == []
    results["c"] = (0.4, 3e6)
    assert promotable(results, set(), eta=3) == ["a"]


def test_a_student_dominated_by_everything_is_never_promoted_before_the_front():
    # "z" is worse than every other student in both objectives; whatever the others, it comes last.
    rng = np.random.default_rng(0)
    for _ in range(20):
        results = {f"s{i}": (float(rng.uniform(0.5, 0.9)), float(rng.uniform(1e5, 1e7))) for i in range(8)}
        results["z"] = (0.1, 2e7)
        order = priority_order(results)
        assert order[-1] == "z"
        assert "z" not in promotable(results, set(), eta=2)


def test_order_follows_pareto_rank():
    rng = np.random.default_rng(1)
    results = {f"s{i:02d}": (float(rng.uniform()), float(rng.uniform(1, 100))) for i in range(30)}
    ids = sorted(results)
    pts = np.array([[-results[i][0], results[i][1]] for i in ids])
    rank = dict(zip(ids, non_dominated_sort(pts)))
    order = priority_order(results)
    assert sorted(order) == ids
    assert [rank[s] for s in order] == sorted(rank[s] for s in order)


def test_spread_rule_picks_the_extremes_of_a_front_before_its_middle():
    # One front of five students spread over the cost range: the cheapest and the most accurate
    # come first, then the middle one (farthest from both), then the rest.
    front = {"cheap": (0.50, 1e5), "q1": (0.60, 3e5), "mid": (0.70, 1e6), "q3": (0.80, 3e6), "best": (0.90, 1e7)}
    order = priority_order(front)
    assert set(order[:2]) == {"cheap", "best"}
    assert order[2] == "mid"
    assert promotable(front, set(), eta=2) == order[:2]


def test_spread_rule_fills_the_largest_gap_not_a_crowded_stretch():
    # Three students crowd the cheap end; the one student in the expensive half should be promoted
    # before a second cheap one.
    results = {"c1": (0.50, 1e5), "c2": (0.51, 1.1e5), "c3": (0.52, 1.2e5), "e": (0.70, 1e6),
               "best": (0.90, 1e7), "x1": (0.1, 1e8)}
    assert promotable(results, set(), eta=2) == ["best", "c1", "e"]


def test_already_promoted_students_are_not_returned_again():
    results = {f"s{i}": (i / 10, 10.0 ** i) for i in range(9)}  # one front: better costs more
    first = promotable(results, set(), eta=3)
    assert len(first) == 3
    assert promotable(results, set(first), eta=3) == []
    assert promotable(results, {first[0]}, eta=3) == first[1:]


def test_the_order_does_not_depend_on_the_mapping_order():
    rng = np.random.default_rng(2)
    items = [(f"s{i}", (float(rng.integers(0, 3)) / 2, float(rng.integers(1, 4)))) for i in range(9)]
    orders = {tuple(priority_order(dict(p))) for p in itertools.islice(itertools.permutations(items), 50)}
    assert len(orders) == 1


def test_three_objectives_and_nonpositive_costs_work():
    results = {"a": (0.9, 3.0, 0.0), "b": (0.8, 1.0, 2.0), "c": (0.5, 5.0, 5.0), "d": (0.7, 2.0, 1.0)}
    order = priority_order(results)
    assert order[-1] == "c"
    assert promotable(results, set(), eta=2) == order[:2]


def test_failed_students_are_refused():
    with pytest.raises(ValueError):
        priority_order({"a": (float("nan"), 1.0)})


def test_next_promotion_takes_the_higher_rung_first_then_the_lower_then_nothing():
    rung0 = {f"s{i}": (0.1 * i, 10.0 + i) for i in range(6)}  # 6 results, eta 3: two promotable
    rung1 = {"s5": (0.9, 15.0), "s4": (0.8, 14.0), "s3": (0.2, 16.0)}  # 3 results: one promotable
    promoted: list[set[str]] = [set(), set()]
    first = next_promotion([rung0, rung1], promoted, 3)
    assert first is not None and first[1] == 2  # rung 1 -> 2 before rung 0 -> 1
    promoted[1].add(first[0])
    second = next_promotion([rung0, rung1], promoted, 3)
    assert second is not None and second[1] == 1 and second[0] in promotable(rung0, set(), 3)
    promoted[0].update(promotable(rung0, set(), 3))
    assert next_promotion([rung0, rung1], promoted, 3) is None
