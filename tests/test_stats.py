"""Diebold-Mariano and bootstrap against hand-computed values."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from cryptocast.evaluation.stats import (
    autocovariances,
    bootstrap_mae_diff,
    default_block_length,
    diebold_mariano,
    hln_factor,
    long_run_variance,
)


def test_autocovariances_by_hand():
    # d = [1, -1, 2, 0, 3]: mean 1, centred [0, -2, 1, -1, 2]
    gamma = autocovariances(np.array([1.0, -1.0, 2.0, 0.0, 3.0]), 1)
    assert gamma == pytest.approx([10 / 5, -5 / 5])


def test_dm_horizon1_by_hand():
    # |e1| - |e2| = [1, -1, 2, 0, 3]; mean 1, gamma0 = 2, DM = 1 / sqrt(2/5) = sqrt(2.5)
    # HLN factor sqrt((5 + 1 - 2 + 0) / 5) = sqrt(0.8) -> DM* = sqrt(2)
    e1 = np.array([1.0, 0.0, -2.0, 0.0, 3.0])
    e2 = np.array([0.0, 1.0, 0.0, 0.0, 0.0])
    res = diebold_mariano(e1, e2, horizon=1)
    assert res.statistic == pytest.approx(math.sqrt(2.0))
    assert res.pvalue == pytest.approx(2 * sps.t.sf(math.sqrt(2.0), df=4))
    assert res.n == 5 and res.variance_method == "rectangular"
    # swapping the forecasts flips the sign, not the p-value
    swapped = diebold_mariano(e2, e1, horizon=1)
    assert swapped.statistic == pytest.approx(-math.sqrt(2.0))
    assert swapped.pvalue == pytest.approx(res.pvalue)


def test_dm_horizon2_rectangular_by_hand():
    # d = [1..5]: mean 3, gamma0 = 2, gamma1 = 0.8, LRV = 2 + 1.6 = 3.6
    # DM = 3 / sqrt(3.6 / 5); HLN (5 + 1 - 4 + 2/5) / 5 = 0.48 -> DM* = 3 sqrt(0.48/0.72) = sqrt(6)
    res = diebold_mariano(np.arange(1.0, 6.0), np.zeros(5), horizon=2)
    assert res.variance_method == "rectangular"
    assert res.statistic == pytest.approx(math.sqrt(6.0))
    assert res.pvalue == pytest.approx(2 * sps.t.sf(math.sqrt(6.0), df=4))


def test_dm_horizon2_falls_back_to_bartlett():
    # d = [1, -1, 2, 0, 3]: gamma0 = 2, gamma1 = -1 -> rectangular LRV = 0 (not positive);
    # Bartlett 2 + 2 * (1 - 1/2) * (-1) = 1, DM = 1 / sqrt(1/5) = sqrt(5), DM* = sqrt(5 * 0.48)
    d = np.array([1.0, -1.0, 2.0, 0.0, 3.0])
    assert long_run_variance(d, 2) == (pytest.approx(1.0), "bartlett")
    e1 = np.array([1.0, 0.0, -2.0, 0.0, 3.0])
    e2 = np.array([0.0, 1.0, 0.0, 0.0, 0.0])
    res = diebold_mariano(e1, e2, horizon=2)
    assert res.variance_method == "bartlett"
    assert res.statistic == pytest.approx(math.sqrt(2.4))


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


def test_bootstrap_chunking_changes_nothing(monkeypatch):
    import cryptocast.evaluation.stats as stats_mod

    e1, e2 = _errors(n=50)
    whole = bootstrap_mae_diff(e1, e2, n_boot=37, seed=0)  # one chunk
    monkeypatch.setattr(stats_mod, "_BOOT_CHUNK_CELLS", 120)  # 2 rows (of 50 cells) per chunk
    assert bootstrap_mae_diff(e1, e2, n_boot=37, seed=0) == whole
    assert bootstrap_mae_diff(e1, e2, n_boot=37, seed=1) != whole


def test_bootstrap_input_errors():
    e = np.zeros(5)
    with pytest.raises(ValueError, match="block_length"):
        bootstrap_mae_diff(e, e, block_length=6)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_mae_diff(e, e, n_boot=0)
    with pytest.raises(ValueError, match="level"):
        bootstrap_mae_diff(e, e, level=1.0)
