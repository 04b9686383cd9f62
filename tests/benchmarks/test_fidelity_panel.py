"""The fidelity panel covers the whole MACs range of a space, not only where random samples crowd."""

from __future__ import annotations

import numpy as np

from benchmarks.fidelity import spread_over_range


def test_panel_spans_the_range_evenly_in_log_macs_even_when_samples_crowd_at_the_top() -> None:
    rng = np.random.default_rng(0)
    macs = np.concatenate([rng.uniform(5e6, 8e6, 5000), [1.0e6, 1.5e6, 2.2e6, 3.1e6, 4.0e6]]).astype(np.int64)
    idx = spread_over_range(macs, 16)
    assert len(idx) == len(set(idx.tolist())) == 16
    got = np.sort(macs[idx])
    assert got[0] == 1_000_000 and got[-1] == macs.max()  # both ends of the range
    assert (got < 5e6).sum() == 5  # every rare small student is in (rank spacing would take none)


def test_small_pools_are_taken_whole() -> None:
    assert sorted(spread_over_range(np.array([3, 1, 2]), 16).tolist()) == [0, 1, 2]
