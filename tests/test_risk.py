"""The risk desk's baselines (EWMA, GARCH through arch) and metrics (Kupiec, Christoffersen,
intervals, VaR, PIT) against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import make_candles
from scipy import stats as sps

from cryptocast.evaluation.backtest import make_context
from cryptocast.evaluation.risk import christoffersen, kupiec, pit_values, risk_metrics
from cryptocast.forecast.volatility import EwmaForecaster, GarchForecaster, standard_grid


def test_kupiec_by_hand():
    hits = np.array([True] * 10 + [False] * 90)
    lr, p = kupiec(hits, 0.05)
    expected = -2 * (90 * math.log(0.95) + 10 * math.log(0.05) - 90 * math.log(0.9)
                     - 10 * math.log(0.1))
    assert lr == pytest.approx(expected) and lr == pytest.approx(4.1308, abs=1e-3)
    assert p == pytest.approx(sps.chi2.sf(expected, 1))
    assert kupiec(np.array([True] * 5 + [False] * 95), 0.05) == pytest.approx((0.0, 1.0))
    lr0, _ = kupiec(np.zeros(100, bool), 0.05)  # no exceedance: -2 * 100 ln 0.95
    assert lr0 == pytest.approx(-200 * math.log(0.95))


def test_christoffersen_by_hand():
    # exceedances spread out: p01 = p11 = 1/3, no evidence of clustering
    spread = np.array([0, 0, 1, 1, 0, 0, 0, 1, 0, 0], bool)
    assert christoffersen(spread, 0.3)[0] == pytest.approx(0.0, abs=1e-12)
    # clustered: n00 5, n01 1, n10 1, n11 2 -> p01 1/6, p11 2/3, p 1/3
    clustered = np.array([0, 0, 0, 1, 1, 1, 0, 0, 0, 0], bool)
    lr_ind, lr_cc, p = christoffersen(clustered, 0.3)
    independent = 6 * math.log(2 / 3) + 3 * math.log(1 / 3)
    markov = (5 * math.log(5 / 6) + math.log(1 / 6) + math.log(1 / 3) + 2 * math.log(2 / 3))
    assert lr_ind == pytest.approx(-2 * (independent - markov))
    assert lr_cc == pytest.approx(lr_ind + kupiec(clustered, 0.3)[0])
    assert p == pytest.approx(sps.chi2.sf(lr_cc, 2))


def test_risk_metrics_of_a_calibrated_forecast():
    rng = np.random.default_rng(0)
    sigma = rng.uniform(0.01, 0.05, 2000)
    actual = rng.normal(0, sigma)
    samples = sigma[:, None] * standard_grid(1000, "normal", 0)[None, :]
    m = risk_metrics(samples, actual)
    assert m["coverage_80"] == pytest.approx(0.8, abs=0.03)
    assert m["coverage_95"] == pytest.approx(0.95, abs=0.02)
    assert m["var99_lower_exceedance"] == pytest.approx(0.01, abs=0.006)
    assert m["var95_lower_kupiec_p"] > 0.01 and m["pit_ks_p"] > 0.01
    assert m["width_50"] == pytest.approx(np.mean(2 * 0.6745 * sigma), rel=0.01)
    narrow = risk_metrics(0.3 * samples, actual)  # far under-dispersed: rejected
    assert narrow["var95_lower_kupiec_p"] < 1e-6 and narrow["pit_ks_p"] < 1e-6
    assert narrow["coverage_80"] < 0.4
    assert np.array_equal(pit_values(np.array([[1.0, 2.0, 3.0]]), np.array([2.0])), [2 / 3])


def contexts(n_candles=1400, origins=(1300, 1310, 1321)):
    candles = make_candles(n_candles, seed=5)
    ohlcv = np.array(candles[["open", "high", "low", "close", "volume"]], dtype=np.float64)
    stamps = candles["timestamp"].to_numpy("datetime64[ns]")
    return [make_context(stamps, ohlcv, o, 1100, 1, pd.Timedelta(days=1), "X") for o in origins]


def test_ewma_by_hand():
    f = EwmaForecaster(lam=0.9, window=40, num_samples=10)
    close = 100 * np.cumprod(1 + np.tile([0.01, -0.02, 0.015], 20))
    r = np.diff(close[-41:]) / close[-41:-1]
    var = np.var(r[:30], ddof=1)
    for x in r:
        var = 0.9 * var + 0.1 * x * x
    assert f.sigma(close) == pytest.approx(math.sqrt(var))
    grid = standard_grid(4, "t", 5.0)
    assert np.var(standard_grid(20000, "t", 5.0)) == pytest.approx(1.0, rel=0.02)
    assert grid[0] == pytest.approx(-grid[-1])


def test_garch_forecasts_depend_on_their_own_context_only():
    f = GarchForecaster(window=500, refit_every=20, num_samples=200)
    ctxs = contexts()
    together = f.predict(ctxs).samples
    alone = GarchForecaster(window=500, refit_every=20, num_samples=200).predict([ctxs[1]])
    np.testing.assert_array_equal(alone.samples[0], together[1])
    # the fit is shared between origins after the same refit candle
    assert len(f.fits) <= 3 and np.all(together > 0)
    with pytest.raises(ValueError, match="window must be >= 100"):
        GarchForecaster(window=50)


def test_conformal_recalibration_learned_on_validation():
    from cryptocast.evaluation.risk import conformal_scale, rescale

    rng = np.random.default_rng(1)
    grid = standard_grid(400, "normal", 0)
    val_actual, test_actual = rng.normal(0, 0.02, 5000), rng.normal(0, 0.02, 5000)
    narrow = np.tile(0.01 * grid, (5000, 1))  # half the true spread
    factor = conformal_scale(narrow, val_actual)
    assert factor == pytest.approx(2.0, rel=0.05)
    before = risk_metrics(narrow, test_actual)["coverage_80"]
    after = risk_metrics(rescale(narrow, factor), test_actual)["coverage_80"]
    assert before < 0.5 and after == pytest.approx(0.8, abs=0.02)
    # by hand: median 0, 80% half-width 1, |y| = [0.5, 1, 2, 3, 4] -> rank ceil(6 * 0.8) / 5
    # = 1 -> the largest score, 4
    unit = np.tile(np.linspace(-1.25, 1.25, 1001), (5, 1))  # q10 = -1, q90 = 1
    assert conformal_scale(unit, np.array([0.5, -1.0, 2.0, 3.0, -4.0])) == pytest.approx(4.0)
    np.testing.assert_allclose(rescale(np.array([[1.0, 2.0, 4.0]]), 2.0), [[0.0, 2.0, 6.0]])
