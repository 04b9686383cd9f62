"""Stratified splitting helpers."""

from __future__ import annotations

import numpy as np

from kdnas.data.split import allocate, split_fraction, stage_rng, stratified_split, subsample


def test_allocate_keeps_total_and_proportions() -> None:
    counts = np.array([50, 30, 20, 1])
    take = allocate(counts, 10)
    assert take.sum() == 10
    assert (take <= counts).all()
    assert list(take[:3]) == [5, 3, 2]


def test_stratified_split_disjoint_complete_and_deterministic() -> None:
    y = np.repeat(np.arange(4), [40, 30, 20, 10])
    a, b = stratified_split(y, 25, stage_rng(0, 1))
    assert len(b) == 25 and len(a) == 75
    assert not set(a) & set(b)
    assert sorted(np.concatenate([a, b])) == list(range(100))
    assert list(np.bincount(y[b])) == [10, 8, 5, 2] or np.abs(np.bincount(y[b]) - [10, 7.5, 5, 2.5]).max() <= 1
    a2, b2 = stratified_split(y, 25, stage_rng(0, 1))
    assert (a == a2).all() and (b == b2).all()
    _, b3 = stratified_split(y, 25, stage_rng(1, 1))
    assert set(b3) != set(b)


def test_tiny_classes_and_negative_seed_do_not_fail() -> None:
    y = np.array([0, 1, 2, 2, 2])
    a, b = split_fraction(y, 0.2, stage_rng(-3, 0))
    assert len(b) == 1 and len(a) == 4
    idx = np.arange(5)
    assert len(subsample(idx, y, 2, stage_rng(0, 2))) == 2
    assert subsample(idx, y, None, stage_rng(0, 2)) is idx
