"""Ensembles (plan 2.1) and the token sampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cryptocast.evaluation.backtest import BacktestResult
from cryptocast.models.kronos.sampling import draw
from cryptocast.tuning.ensemble import (
    choose_weights,
    combine,
    ensemble_results,
    mixture,
    weight_grid,
)

PREV = np.array([100.0, 100.0, 100.0, 100.0])
ACTUAL = np.array([101.0, 99.0, 102.0, 100.0])


def member(point, samples, latency=0.01) -> BacktestResult:
    return BacktestResult(np.arange(4).astype("datetime64[D]").astype("datetime64[ns]"), PREV,
                          ACTUAL, np.asarray(point, float), np.asarray(samples, float),
                          latency, latency)


def test_weighted_mean_and_mixture_by_hand():
    toto = member([101.0, 99.0, 101.0, 100.0], np.full((4, 3), 1.0))
    kronos = member([99.0, 101.0, 103.0, 100.0], np.full((4, 5), 2.0))
    mean = combine(toto, kronos, 0.75, "mean", 0, "X")
    np.testing.assert_allclose(mean.point, [100.5, 99.5, 101.5, 100.0])
    assert mean.samples is None  # a point forecast: no distribution of its own
    mixed = mixture(toto.samples, kronos.samples, 0.25, 8, seeds=[0, 1, 2, 3])
    assert mixed.shape == (4, 8) and (mixed == 1.0).sum(axis=1).tolist() == [2, 2, 2, 2]
    assert combine(toto, kronos, 0.75, "mixture", 0, "X").point.tolist() == [1.0] * 4
    assert mean.latency_s_single == pytest.approx(0.02)  # a live system runs both
    with pytest.raises(ValueError, match="must be one of"):
        combine(toto, kronos, 0.5, "median", 0, "X")


def test_a_windows_mixture_draws_depend_on_that_window_only():
    rng = np.random.default_rng(0)
    toto = member(PREV, rng.normal(100, 1, (4, 50)))
    kronos = member(PREV, rng.normal(100, 2, (4, 50)))
    whole = combine(toto, kronos, 0.4, "mixture", 7, "X").samples
    for rows in ([1], [2, 3], [0, 3]):
        part = combine(*(BacktestResult(m.timestamps[rows], m.prev_close[rows],
                                        m.actual_close[rows], m.point[rows], m.samples[rows],
                                        0.0, 0.0) for m in (toto, kronos)),
                       0.4, "mixture", 7, "X").samples
        np.testing.assert_array_equal(part, whole[rows])
    assert not np.array_equal(combine(toto, kronos, 0.4, "mixture", 7, "Y").samples, whole)


def test_weights_are_chosen_on_validation_only():
    good = member(ACTUAL, np.tile(ACTUAL[:, None], 5))  # perfect on validation
    bad = member(PREV, np.tile(PREV[:, None], 5))
    members = {"validation": {"sweep_toto": good, "sweep_kronos": bad},
               # on test the other member is perfect: it must not matter
               "test": {"sweep_toto": bad, "sweep_kronos": good}}
    grid = weight_grid(members, [0.0, 0.5, 1.0], 0, "X")
    assert set(grid) == {f"ensemble_{k}_w{w}" for k in ("mean", "mixture")
                         for w in (0.0, 0.5, 1.0)}
    chosen = choose_weights(grid, [0.0, 0.5, 1.0])
    assert chosen["mean"]["weight"] == 1.0 and chosen["mixture"]["weight"] == 1.0
    results = ensemble_results(members, chosen, 0, "X")
    assert set(results["test"]) == {"sweep_toto", "sweep_kronos", "ensemble_mean",
                                    "ensemble_mixture", "ensemble_plan_0.6", "naive"}
    np.testing.assert_array_equal(results["test"]["naive"].point, PREV)


def test_token_draws_follow_the_probabilities_and_skip_zero_mass():
    probs = torch.tensor([[0.2, 0.0, 0.8, 0.0]])
    ids = draw(probs, 20000, [torch.Generator().manual_seed(0)])[0]
    counts = torch.bincount(ids, minlength=4)
    assert counts[1] == 0 and counts[3] == 0
    assert counts[0] / 20000 == pytest.approx(0.2, abs=0.01)
    again = draw(probs, 20000, [torch.Generator().manual_seed(0)])[0]
    assert torch.equal(ids, again)
