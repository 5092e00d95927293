"""Ensembles (plan 2.1), the selection of production configs, and the token sampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cryptocast.evaluation.backtest import BacktestResult
from cryptocast.models.kronos.sampling import draw
from cryptocast.tuning.ensemble import choose_weights, combine, ensemble_results, mixture
from cryptocast.tuning.select import Candidate, SelectParams, choose, choose_significant, select

PREV = np.array([100.0, 100.0, 100.0, 100.0])
ACTUAL = np.array([101.0, 99.0, 102.0, 100.0])


def member(point, samples, latency=0.01) -> BacktestResult:
    return BacktestResult(np.arange(4).astype("datetime64[D]").astype("datetime64[ns]"), PREV,
                          ACTUAL, np.asarray(point, float), np.asarray(samples, float),
                          latency, latency)


def test_weighted_mean_and_mixture_by_hand():
    toto = member([101.0, 99.0, 101.0, 100.0], np.full((4, 3), 1.0))
    kronos = member([99.0, 101.0, 103.0, 100.0], np.full((4, 5), 2.0))
    mean = combine(toto, kronos, 0.75, "mean")
    np.testing.assert_allclose(mean.point, [100.5, 99.5, 101.5, 100.0])
    mixed = mixture(toto.samples, kronos.samples, 0.25, 8, seed=0)
    assert mixed.shape == (4, 8) and (mixed == 1.0).sum(axis=1).tolist() == [2, 2, 2, 2]
    assert combine(toto, kronos, 0.75, "mixture").point.tolist() == [1.0] * 4  # the median
    assert mean.latency_s_single == pytest.approx(0.02)  # a live system runs both
    with pytest.raises(ValueError, match="mean or mixture"):
        combine(toto, kronos, 0.5, "median")


def test_weights_are_chosen_on_validation_only():
    good = member(ACTUAL, np.tile(ACTUAL[:, None], 5))  # perfect on validation
    bad = member(PREV, np.tile(PREV[:, None], 5))
    members = {"validation": {"sweep_toto": good, "sweep_kronos": bad},
               # on test the other member is perfect: it must not matter
               "test": {"sweep_toto": bad, "sweep_kronos": good}}
    chosen = choose_weights(members, [0.0, 0.5, 1.0])
    assert chosen["mean"]["weight"] == 1.0 and chosen["mixture"]["weight"] == 1.0
    results = ensemble_results(members, chosen)
    assert set(results["test"]) == {"sweep_toto", "sweep_kronos", "ensemble_mean",
                                    "ensemble_mixture", "ensemble_plan_0.6", "naive"}
    np.testing.assert_array_equal(results["test"]["naive"].point, PREV)


def candidate(name, val, test, p=1.0) -> Candidate:
    return Candidate(name, "stage", {"model": "naive"},
                     {"pct_return_mae": val, "dm_pvalue_vs_naive": p}, {"pct_return_mae": test})


def test_selection_never_sees_the_test_split():
    best = SelectParams(rule="best")
    candidates = [candidate("a", 0.020, 0.030), candidate("b", 0.021, 0.001),
                  candidate("naive", 0.022, 0.002)]
    chosen, table = select(candidates, best)
    assert chosen.name == "a" and table["candidates"] == {"a": 0.020, "b": 0.021, "naive": 0.022}
    # whatever the test values, the choice is the same: the rules only get validation
    shuffled = [candidate(c.name, c.validation["pct_return_mae"], t)
                for c, t in zip(candidates, [0.5, 0.0, 0.0], strict=True)]
    assert select(shuffled, best)[0].name == "a"
    assert choose({"x": 1.0, "y": 1.0}) == "x"  # equals: the first listed
    with pytest.raises(ValueError, match="no candidates"):
        choose({})


def test_significant_rule_needs_evidence_against_naive():
    naive = [candidate("naive", 0.030, 0.0), candidate("naive_gaussian", 0.030, 0.0)]
    # 4 candidates tried: each needs p < 0.05 / 4 = 0.0125 and a lower MAE than naive
    tried = [candidate("lucky", 0.020, 0.0, p=0.02), candidate("worse", 0.040, 0.0, p=0.001),
             candidate("good", 0.025, 0.0, p=0.01), candidate("better", 0.024, 0.0, p=0.3)]
    chosen, table = select(naive + tried)
    assert chosen.name == "good" and table["threshold"] == pytest.approx(0.0125)
    assert table["rule"] == "significant" and table["dm_pvalues_vs_naive"]["lucky"] == 0.02
    # with nothing significant, the random walk with its Gaussian band
    weak = [candidate("lucky", 0.020, 0.0, p=0.03), candidate("worse", 0.040, 0.0, p=0.001)]
    assert select(naive + weak)[0].name == "naive_gaussian"
    assert choose_significant({"naive": 0.03, "x": 0.02}, {"x": 0.04}, 0.05,
                              "naive_gaussian") == ("x", 0.05)
    with pytest.raises(ValueError, match="needs \\['naive', 'naive_gaussian'\\]"):
        select(tried)
    with pytest.raises(ValueError, match="select.rule must be one of"):
        SelectParams.from_params({"select": {"rule": "lowest"}})


def test_token_draws_follow_the_probabilities_and_skip_zero_mass():
    probs = torch.tensor([[0.2, 0.0, 0.8, 0.0]])
    ids = draw(probs, 20000, [torch.Generator().manual_seed(0)])[0]
    counts = torch.bincount(ids, minlength=4)
    assert counts[1] == 0 and counts[3] == 0
    assert counts[0] / 20000 == pytest.approx(0.2, abs=0.01)
    again = draw(probs, 20000, [torch.Generator().manual_seed(0)])[0]
    assert torch.equal(ids, again)
