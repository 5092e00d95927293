"""Pooled statistics over a panel: the relative score by hand, the joint time-block bootstrap,
the pooled DM test and the plan verdicts."""

import numpy as np
import pytest

from cryptocast.evaluation.claims import HELD, REFUTED
from cryptocast.evaluation.panel import pooled_claim, pooled_comparison, relative_score


def test_relative_score_is_the_geometric_mean_of_ratios():
    reference = np.array([[1.0, 2.0], [3.0, 2.0]])  # means 2 and 2
    losses = np.array([[1.0, 4.0], [1.0, 4.0]])  # means 1 and 4: ratios 0.5 and 2
    assert relative_score(losses, reference) == pytest.approx(1.0)
    assert relative_score(0.5 * reference, reference) == pytest.approx(0.5)


def test_the_bootstrap_resamples_time_jointly_for_all_symbols():
    """A symbol copied 10 times is no more evidence than one: the joint bootstrap gives the
    same interval; resampling each column on its own would shrink it."""
    rng = np.random.default_rng(0)
    ref = np.abs(rng.normal(0, 0.03, (120, 1)))
    cand = ref * np.exp(rng.normal(0, 0.3, (120, 1)))
    one = pooled_comparison(cand, ref, n_boot=500, seed=1)
    ten = pooled_comparison(np.repeat(cand, 10, 1), np.repeat(ref, 10, 1), n_boot=500, seed=1)
    assert (ten.relative_ci95_lo, ten.relative_ci95_hi) == pytest.approx(
        (one.relative_ci95_lo, one.relative_ci95_hi))
    assert ten.dm_pvalue == pytest.approx(one.dm_pvalue) and ten.symbols == 10


def test_pooled_dm_and_win_rate():
    rng = np.random.default_rng(2)
    ref = np.abs(rng.normal(0, 0.03, (120, 8)))
    better = 0.7 * ref
    result = pooled_comparison(better, ref, n_boot=300)
    assert result.relative == pytest.approx(0.7) and result.win_rate == 1.0
    assert result.dm_pvalue < 1e-6 and result.relative_ci95_hi < 1
    same = pooled_comparison(ref, ref, n_boot=300)
    assert same.dm_pvalue == 1.0 and same.relative == 1.0 and same.win_rate == 0.0
    with pytest.raises(ValueError, match="one shape"):
        pooled_comparison(ref, ref[:, :3])


def test_pooled_claims():
    rng = np.random.default_rng(3)
    control = np.abs(rng.normal(0, 0.03, (120, 17)))
    held = pooled_claim(0.65 * control, control, (0.3, 0.4), n_boot=300)
    assert held["verdict"] == HELD and held["gain"] == pytest.approx(0.35)
    noise = control * np.exp(rng.normal(0, 0.05, control.shape))
    refuted = pooled_claim(noise, control, (0.3, 0.4), n_boot=300)
    assert refuted["verdict"] == REFUTED and refuted["gain_ci95_hi"] < 0.3
