"""Pareto functions against brute-force references on random point sets, plus edge cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from kdnas.pareto import dominates, hypervolume_2d, non_dominated_mask, non_dominated_sort


def _brute_mask(pts: np.ndarray) -> np.ndarray:
    n = len(pts)
    out = np.ones(n, dtype=bool)
    for i in range(n):
        for j in range(n):
            if i != j and all(pts[j][k] <= pts[i][k] for k in range(pts.shape[1])) and any(
                pts[j][k] < pts[i][k] for k in range(pts.shape[1])
            ):
                out[i] = False
    return out


def _brute_ranks(pts: np.ndarray) -> np.ndarray:
    # Rank = length of the longest chain of dominating points above a point.
    n = len(pts)
    ranks = np.zeros(n, dtype=int)
    order = sorted(range(n), key=lambda i: tuple(pts[i]))  # a dominator sorts first
    for i in order:
        for j in range(n):
            if dominates(pts[j], pts[i]):
                ranks[i] = max(ranks[i], ranks[j] + 1)
    return ranks


def _brute_hv(pts: np.ndarray, ref: np.ndarray) -> float:
    # Area of the union of boxes [x, rx] x [y, ry] by grid cells over all coordinates.
    pts = np.array([p for p in pts if p[0] < ref[0] and p[1] < ref[1]])
    if len(pts) == 0:
        return 0.0
    xs = sorted(set(pts[:, 0]) | {ref[0]})
    ys = sorted(set(pts[:, 1]) | {ref[1]})
    area = 0.0
    for (x0, x1), (y0, y1) in itertools.product(zip(xs, xs[1:]), zip(ys, ys[1:])):
        if any(p[0] <= x0 and p[1] <= y0 for p in pts):
            area += (x1 - x0) * (y1 - y0)
    return area


def test_dominates():
    assert dominates(np.array([1, 1]), np.array([1, 2]))
    assert not dominates(np.array([1, 2]), np.array([1, 2]))
    assert not dominates(np.array([1, 3]), np.array([2, 2]))
    assert not dominates(np.array([2, 2]), np.array([1, 1]))


@pytest.mark.parametrize("m", [2, 3])
def test_mask_and_sort_match_brute_force(m):
    rng = np.random.default_rng(m)
    for trial in range(60):
        n = int(rng.integers(1, 30))
        # Integer coordinates make ties and duplicates common.
        pts = rng.integers(0, 6, size=(n, m)).astype(float) if trial % 2 else rng.random((n, m))
        np.testing.assert_array_equal(non_dominated_mask(pts), _brute_mask(pts))
        np.testing.assert_array_equal(non_dominated_sort(pts), _brute_ranks(pts))


def test_hypervolume_matches_brute_force():
    rng = np.random.default_rng(0)
    for trial in range(80):
        n = int(rng.integers(1, 15))
        pts = rng.integers(0, 8, size=(n, 2)).astype(float) if trial % 2 else rng.random((n, 2)) * 8
        ref = np.array([7.0, 6.5])
        assert hypervolume_2d(pts, ref) == pytest.approx(_brute_hv(pts, ref))


def test_empty_inputs():
    empty = np.zeros((0, 2))
    assert non_dominated_mask(empty).shape == (0,)
    assert non_dominated_sort(empty).shape == (0,)
    assert hypervolume_2d(empty, np.array([1.0, 1.0])) == 0.0


def test_single_point():
    p = np.array([[0.25, 0.5]])
    assert non_dominated_mask(p).tolist() == [True]
    assert non_dominated_sort(p).tolist() == [0]
    assert hypervolume_2d(p, np.array([1.0, 1.0])) == pytest.approx(0.75 * 0.5)


def test_duplicates_are_all_kept_and_counted_once():
    pts = np.array([[1.0, 2.0], [1.0, 2.0], [2.0, 3.0], [0.0, 5.0]])
    assert non_dominated_mask(pts).tolist() == [True, True, False, True]
    assert non_dominated_sort(pts).tolist() == [0, 0, 1, 0]
    ref = np.array([4.0, 6.0])
    assert hypervolume_2d(pts, ref) == pytest.approx(hypervolume_2d(pts[[0, 3]], ref))
    assert hypervolume_2d(pts, ref) == pytest.approx(3 * 4 + 1 * 1)


def test_points_beyond_reference_add_nothing():
    ref = np.array([1.0, 1.0])
    assert hypervolume_2d(np.array([[1.0, 0.0], [2.0, -1.0]]), ref) == 0.0
    inside = np.array([[0.5, 0.5]])
    assert hypervolume_2d(np.vstack([inside, [[1.0, -5.0]]]), ref) == pytest.approx(0.25)


def test_sort_ranks_chain():
    pts = np.array([[3.0, 3.0], [2.0, 2.0], [1.0, 1.0], [0.0, 4.0]])
    assert non_dominated_sort(pts).tolist() == [2, 1, 0, 0]


def test_inputs_are_not_modified():
    pts = np.array([[3.0, 1.0], [1.0, 3.0], [2.0, 2.0]])
    copy = pts.copy()
    hypervolume_2d(pts, np.array([4.0, 4.0]))
    non_dominated_sort(pts)
    np.testing.assert_array_equal(pts, copy)
