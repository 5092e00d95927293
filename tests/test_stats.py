"""Diebold-Mariano and bootstrap against hand-computed values."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from cryptocast.evaluation.stats import (
    bootstrap_gain,
    bootstrap_mae_diff,
    default_block_length,
    diebold_mariano,
    hln_factor,
    long_run_variance,
    newey_west_lags,
)


def test_newey_west_lags_rule():
    assert newey_west_lags(120, 1) == 4  # floor(4 * 1.2 ** (2/9)) = floor(4.16)
    assert newey_west_lags(1000, 1) == 6  # floor(4 * 10 ** (2/9)) = floor(6.67)
    assert newey_west_lags(120, 8) == 7  # at least h - 1
    assert newey_west_lags(3, 1) == 1  # floor(4 * 0.03 ** (2/9)) = floor(1.83)
    assert newey_west_lags(2, 5) == 1  # at most n - 1


def test_long_run_variance_by_hand():
    # d = [1, -1, 2, 0, 3]: centred [0, -2, 1, -1, 2]; gamma0 = 2, gamma1 = -1, gamma2 = 0.8;
    # Bartlett over 2 lags: 2 + 2 (2/3 (-1) + 1/3 (0.8)) = 1.2
    d = np.array([1.0, -1.0, 2.0, 0.0, 3.0])
    assert long_run_variance(d, 2) == pytest.approx(1.2)
    assert long_run_variance(d, 0) == pytest.approx(2.0)


def test_dm_horizon1_by_hand():
    # |e1| - |e2| = [1, -1, 2, 0, 3]; mean 1, n = 5 -> 2 lags, LRV 1.2 (above);
    # DM = 1 / sqrt(1.2 / 5); HLN factor sqrt(4/5) -> DM* = sqrt(0.8 / 0.24)
    e1 = np.array([1.0, 0.0, -2.0, 0.0, 3.0])
    e2 = np.array([0.0, 1.0, 0.0, 0.0, 0.0])
    res = diebold_mariano(e1, e2, horizon=1)
    expected = math.sqrt(0.8 / 0.24)
    assert res.statistic == pytest.approx(expected)
    assert res.pvalue == pytest.approx(2 * sps.t.sf(expected, df=4))
    assert res.n == 5 and res.lags == 2
    # swapping the forecasts flips the sign, not the p-value
    swapped = diebold_mariano(e2, e1, horizon=1)
    assert swapped.statistic == pytest.approx(-expected)
    assert swapped.pvalue == pytest.approx(res.pvalue)


def test_dm_horizon2_by_hand():
    # d = [1..5]: mean 3, centred [-2..2]; gamma0 = 2, gamma1 = 0.8, gamma2 = -0.2;
    # LRV = 2 + 2 (2/3 0.8 + 1/3 (-0.2)) = 44/15; HLN (5 + 1 - 4 + 2/5) / 5 = 0.48
    res = diebold_mariano(np.arange(1.0, 6.0), np.zeros(5), horizon=2)
    expected = 3.0 * math.sqrt(0.48 * 5 / (44 / 15))
    assert res.statistic == pytest.approx(expected)
    assert res.pvalue == pytest.approx(2 * sps.t.sf(expected, df=4))


def _ar1(rng, phi, n, burn=50):
    noise = rng.normal(size=n + burn)
    d = np.zeros(n + burn)
    for t in range(1, n + burn):
        d[t] = phi * d[t - 1] + noise[t]
    return d[burn:]


def test_dm_size_under_autocorrelated_losses():
    """Equal accuracy, loss differential AR(1) with phi 0.2 (about the lag-1 autocorrelation
    of absolute daily returns): the lag-0 variance rejects far more often than alpha, the
    Newey-West variance stays near it."""
    rng = np.random.default_rng(7)
    n, reps, alpha = 120, 2000, 0.05
    lag0 = newey_west = 0
    for _ in range(reps):
        d = _ar1(rng, 0.2, n)
        e1, e2 = np.maximum(d, 0.0), np.maximum(-d, 0.0)  # |e1| - |e2| = d
        newey_west += diebold_mariano(e1, e2).pvalue < alpha
        stat = hln_factor(n, 1) * d.mean() / math.sqrt(long_run_variance(d, 0) / n)
        lag0 += 2 * sps.t.sf(abs(stat), df=n - 1) < alpha
    assert lag0 / reps > 0.10
    assert 0.03 < newey_west / reps < 0.085


def test_dm_identical_and_constant_differentials():
    e = np.array([0.1, -0.2, 0.3])
    same = diebold_mariano(e, -e)  # equal absolute errors
    assert same.pvalue == 1.0 and same.statistic is None
    const = diebold_mariano(np.ones(4), np.zeros(4))  # d constant 1: zero variance
    assert const.pvalue == 0.0 and const.statistic is None


def test_dm_detects_a_clearly_worse_forecast():
    rng = np.random.default_rng(0)
    good = rng.normal(0, 1, 300)
    assert diebold_mariano(3 * good, good).pvalue < 1e-6
    assert diebold_mariano(good, rng.normal(0, 1, 300)).pvalue > 0.01


def test_dm_input_errors():
    with pytest.raises(ValueError, match="e1 and e2"):
        diebold_mariano(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="e2 contains NaN"):
        diebold_mariano(np.zeros(3), np.array([0.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="at least 2"):
        diebold_mariano(np.zeros(1), np.zeros(1))
    with pytest.raises(ValueError, match="horizon"):
        diebold_mariano(np.zeros(3), np.zeros(3), horizon=0)
    with pytest.raises(ValueError, match="too long"):
        hln_factor(3, 3)


def test_default_block_length():
    assert default_block_length(120, 1) == 5  # round(120 ** (1/3)) = round(4.93)
    assert default_block_length(120, 7) == 7
    assert default_block_length(3, 7) == 3  # never longer than the series


def _errors(seed=1, n=120):
    rng = np.random.default_rng(seed)
    actual = rng.normal(0, 0.02, n)
    return 0.8 * actual + rng.normal(0, 0.01, n) - actual, -actual


def test_bootstrap_contains_observed_difference_and_is_seeded():
    e1, e2 = _errors()
    observed = np.mean(np.abs(e1)) - np.mean(np.abs(e2))
    lo, hi = bootstrap_mae_diff(e1, e2, n_boot=2000, seed=3)
    assert lo < observed < hi
    assert bootstrap_mae_diff(e1, e2, n_boot=2000, seed=3) == (lo, hi)
    assert bootstrap_mae_diff(e1, e2, n_boot=2000, seed=4) != (lo, hi)
    narrow = bootstrap_mae_diff(e1, e2, n_boot=2000, seed=3, level=0.5)
    assert lo < narrow[0] < narrow[1] < hi


def test_bootstrap_exact_cases():
    e = np.array([0.1, -0.2, 0.3, 0.0])
    assert bootstrap_mae_diff(e, -e, n_boot=50) == (0.0, 0.0)
    # one circular block of the full length is a rotation: every resample mean is the observed one
    e1, e2 = np.array([0.3, 0.1, 0.5, 0.2]), np.array([0.1, 0.1, 0.1, 0.1])
    lo, hi = bootstrap_mae_diff(e1, e2, block_length=4, n_boot=100)
    assert lo == pytest.approx(0.175) and hi == pytest.approx(0.175)


def test_bootstrap_gain_is_the_ratio_interval():
    e1, e2 = _errors()
    observed = 1 - np.mean(np.abs(e1)) / np.mean(np.abs(e2))
    lo, hi = bootstrap_gain(e1, e2, n_boot=2000, seed=3)
    assert lo < observed < hi
    # the same resamples as the MAE difference: its interval scaled by -1 / MAE(e2), roughly
    d_lo, d_hi = bootstrap_mae_diff(e1, e2, n_boot=2000, seed=3)
    scale = np.mean(np.abs(e2))
    assert -d_hi / scale == pytest.approx(lo, abs=0.05)
    assert -d_lo / scale == pytest.approx(hi, abs=0.05)
    e = np.array([0.3, 0.1, 0.5, 0.2])
    assert bootstrap_gain(0.5 * e, e, block_length=4, n_boot=20) == pytest.approx((0.5, 0.5))
    assert bootstrap_gain(e, -e, n_boot=20) == (0.0, 0.0)
    with pytest.raises(ValueError, match="all zero"):
        bootstrap_gain(e, np.zeros(4))


def test_bootstrap_input_errors():
    e = np.arange(5.0)
    with pytest.raises(ValueError, match="block_length"):
        bootstrap_mae_diff(e, 2 * e, block_length=6)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_mae_diff(e, 2 * e, n_boot=0)
    with pytest.raises(ValueError, match="level"):
        bootstrap_mae_diff(e, 2 * e, level=1.0)
