"""Rank agreement statistics of the fidelity benchmarks."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.ranking import bootstrap, rank, seed_agreement


def test_rank_of_same_and_reversed_orders() -> None:
    x = np.array([0.1, 0.4, 0.2, 0.9, 0.5])
    assert rank(x, x * 2 + 1) == {"tau": pytest.approx(1.0), "rho": pytest.approx(1.0)}
    assert rank(x, -x)["tau"] == pytest.approx(-1.0)
    assert np.isnan(rank(x[:2], x[:2])["tau"])


def test_bootstrap_interval_holds_the_point_estimate() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=30)
    y = x + rng.normal(scale=0.8, size=30)
    b = bootstrap(x, y, 200, seed=1)
    assert b["tau_ci"][0] < b["tau"] < b["tau_ci"][1] and 0 < b["tau"] < 1


def test_seed_agreement_over_every_pair_of_seeds() -> None:
    base = np.array([0.50, 0.55, 0.60, 0.65])
    runs = np.stack([base, base + [0.0, 0.0, 0.0, 0.02], base[::-1]])
    ag = seed_agreement(runs)
    assert [p["seeds"] for p in ag["pairs"]] == [[0, 1], [0, 2], [1, 2]]
    assert ag["pairs"][0]["tau"] == pytest.approx(1.0) and ag["pairs"][1]["tau"] == pytest.approx(-1.0)
    assert ag["tau"] == pytest.approx(np.mean([p["tau"] for p in ag["pairs"]]))
    assert ag["pairs"][0]["max_abs_diff"] == pytest.approx(0.02)
    assert ag["max_abs_diff"] == pytest.approx(0.17)
    assert ag["spread_of_mean"] == pytest.approx(np.ptp(runs.mean(axis=0)))
    assert seed_agreement(base[None]) == {}
    # the pairs are named by the seeds the rows were trained with
    assert [p["seeds"] for p in seed_agreement(runs, [0, 2, 5])["pairs"]] == [[0, 2], [0, 5], [2, 5]]


def test_ceiling_of_a_noise_free_proxy_rises_with_seeds() -> None:
    # a known truth, three runs with independent noise: the estimate brackets what the truth itself reaches
    rng = np.random.default_rng(3)
    truth = np.linspace(0.5, 0.6, 40)
    runs = truth + rng.normal(scale=0.02, size=(3, 40))
    ag = seed_agreement(runs)
    r = ag["rho"]
    assert ag["rho_ceiling_one_run"] == pytest.approx(np.sqrt(r))
    assert ag["rho_ceiling_mean"] == pytest.approx(np.sqrt(3 * r / (1 + 2 * r)))
    assert r < ag["rho_ceiling_one_run"] < ag["rho_ceiling_mean"] < 1
    assert abs(rank(truth, runs.mean(axis=0))["rho"] - ag["rho_ceiling_mean"]) < 0.05
    assert abs(np.mean([rank(truth, run)["rho"] for run in runs]) - ag["rho_ceiling_one_run"]) < 0.05
    assert ag["tau_ceiling_mean"] == pytest.approx(2 / np.pi * np.arcsin(ag["rho_ceiling_mean"]))
    assert abs(rank(truth, runs.mean(axis=0))["tau"] - ag["tau_ceiling_mean"]) < 0.07
    assert abs(np.mean([rank(truth, run)["tau"] for run in runs]) - ag["tau_ceiling_one_run"]) < 0.07
