"""The DONNA-style predictor: it learns a linear relation, and never sees the accuracy it predicts."""

from __future__ import annotations

import numpy as np
from scipy import stats

from benchmarks.predictor import features, loo_predictions


def _panel(n: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    comps = rng.uniform(0.2, 2.0, (n, 5))
    macs = rng.uniform(1e6, 3e7, n)
    acc = 0.9 - 0.03 * comps[:, 1] - 0.02 * comps[:, 3] + 0.01 * np.log(macs / 1e6) + rng.normal(0, 0.002, n)
    return comps, macs, acc


def test_features_are_the_components_and_log_macs():
    comps, macs, _ = _panel(4)
    x = features(comps, macs)
    assert x.shape == (4, 6)
    assert np.allclose(x[:, :5], comps) and np.allclose(x[:, 5], np.log(macs))


def test_leave_one_out_recovers_a_linear_relation():
    comps, macs, acc = _panel()
    pred = loo_predictions(features(comps, macs), acc)
    assert stats.kendalltau(pred, acc)[0] > 0.7


def test_a_members_own_accuracy_does_not_move_its_prediction():
    comps, macs, acc = _panel()
    x = features(comps, macs)
    changed = acc.copy()
    changed[3] = 0.1  # a wildly different ground truth for member 3 alone
    a, b = loo_predictions(x, acc), loo_predictions(x, changed)
    assert np.isclose(a[3], b[3])
    assert not np.allclose(np.delete(a, 3), np.delete(b, 3))  # it does move the others' fits
