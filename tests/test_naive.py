import numpy as np
import pytest
from scipy.stats import norm

from cryptocast.forecast.base import Context
from cryptocast.forecast.naive import NaiveForecaster, NaiveGaussianForecaster
from cryptocast.forecast.registry import build_forecaster


def context(closes, horizon=1):
    closes = np.asarray(closes, dtype=float)
    ohlcv = np.column_stack([closes, closes, closes, closes, np.ones_like(closes)])
    ts = np.arange(len(closes)).astype("datetime64[D]").astype("datetime64[ns]")
    future = ts[-1] + np.arange(1, horizon + 1) * np.timedelta64(1, "D")
    return Context(timestamps=ts, ohlcv=ohlcv, future_timestamps=future)


def test_naive_repeats_the_last_close_over_the_horizon():
    forecast = NaiveForecaster().predict([context([1, 2, 3], 2), context([5, 4], 2)])
    np.testing.assert_array_equal(forecast.point, [[3, 3], [4, 4]])


def test_naive_gaussian_uses_the_rolling_std_of_returns():
    closes = [100, 110, 99, 108.9]  # returns +10%, -10%, +10%
    model = NaiveGaussianForecaster(window=3, num_samples=4)
    forecast = model.predict([context(closes, horizon=2)])
    sigma = np.std([0.1, -0.1, 0.1], ddof=1)
    z = norm.ppf([0.125, 0.375, 0.625, 0.875])
    np.testing.assert_allclose(forecast.samples[0, :, 0], 108.9 * (1 + sigma * z))
    np.testing.assert_allclose(forecast.samples[0, :, 1], 108.9 * (1 + sigma * np.sqrt(2) * z))
    np.testing.assert_allclose(forecast.point, [[108.9, 108.9]])
    assert model.context_length == 4


def test_registry_builds_naive_candidates_and_names_bad_knobs():
    assert build_forecaster("n", {"model": "naive"}).name == "n"
    assert build_forecaster("g", {"model": "naive_gaussian", "window": 10}).context_length == 11
    with pytest.raises(ValueError, match="candidate 'g' .*window_size"):
        build_forecaster("g", {"model": "naive_gaussian", "window_size": 10})
    with pytest.raises(ValueError, match="candidate 'x': model must be one of"):
        build_forecaster("x", {"model": "arima"})
    with pytest.raises(ValueError, match="window must be >= 2"):
        build_forecaster("g", {"model": "naive_gaussian", "window": 1})
