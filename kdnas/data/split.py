"""Seeded, stratified splitting and subsampling of index sets.

A small numpy implementation rather than sklearn's `train_test_split`: it gives the same
proportional allocation but never refuses tiny classes (sklearn raises when a class has one
member or when a part is smaller than the number of classes, which quick `max_*` runs hit).
"""

from __future__ import annotations

import numpy as np

# Separate random streams per stage, so that e.g. changing max_train never moves the val split.
STAGE_TEST, STAGE_VAL, STAGE_SUB_TRAIN, STAGE_SUB_VAL, STAGE_SUB_TEST = range(5)


def stage_rng(seed: int, stage: int) -> np.random.Generator:
    """A generator determined by (seed, stage) only; any int seed (negative too) is accepted."""
    return np.random.default_rng([stage, seed % 2**63])


def allocate(counts: np.ndarray, n_take: int) -> np.ndarray:
    """How many of each class to take so that the total is `n_take` and proportions are kept.

    Largest-remainder rounding: floor of each exact quota, then one more for the classes with
    the largest fractional parts (ties to the lower class index, so the result is deterministic).
    """
    total = int(counts.sum())
    if not 0 <= n_take <= total:
        raise ValueError(f"cannot take {n_take} of {total}")
    quota = counts.astype(np.float64) * n_take / total
    take = np.floor(quota).astype(np.int64)
    rest = n_take - int(take.sum())
    order = np.argsort(-(quota - take), kind="stable")
    take[order[:rest]] += 1
    return take


def stratified_split(y: np.ndarray, n_second: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Split positions 0..len(y)-1 into (first, second), `second` holding `n_second` of them.

    Class proportions are kept in both parts; both come back in a random (seeded) order, so a
    prefix of either is still a fair sample. The parts are disjoint and together cover all.
    """
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    take = allocate(counts, n_second)
    by_class = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    first: list[np.ndarray] = []
    second: list[np.ndarray] = []
    for c in range(len(classes)):
        members = rng.permutation(by_class[starts[c] : starts[c + 1]])
        second.append(members[: take[c]])
        first.append(members[take[c] :])
    first_idx = rng.permutation(np.concatenate(first)) if first else np.empty(0, np.int64)
    second_idx = rng.permutation(np.concatenate(second)) if second else np.empty(0, np.int64)
    return first_idx.astype(np.int64), second_idx.astype(np.int64)


def split_fraction(y: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split with `fraction` of the samples (rounded, at least one) in the second part."""
    n = len(y)
    n_second = min(max(1, round(fraction * n)), n - 1) if n > 1 else 0
    return stratified_split(y, n_second, rng)


def subsample(idx: np.ndarray, y: np.ndarray, limit: int | None, rng: np.random.Generator) -> np.ndarray:
    """At most `limit` of the indices `idx` (into `y`), stratified; all of them when limit is None."""
    if limit is None or limit >= len(idx):
        return idx
    _, keep = stratified_split(y[idx], limit, rng)
    return idx[keep]
