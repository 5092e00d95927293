"""The rolling-origin engine: alignment, batching, and no look-ahead by construction."""

import numpy as np
import pandas as pd
import pytest

from cryptocast.evaluation.backtest import rolling_origin
from cryptocast.forecast.base import Forecast
from cryptocast.forecast.naive import NaiveForecaster

DAY = pd.Timedelta(days=1)


class Recorder:
    """Forecasts the mean close of its context and records every context it saw."""

    name = "recorder"

    def __init__(self, context_length: int = 10) -> None:
        self.context_length = context_length
        self.seen = []

    def predict(self, contexts):
        self.seen.extend(contexts)
        point = np.array([[c.close.mean()] * c.horizon for c in contexts])
        return Forecast(point=point)


def test_contexts_end_before_the_target_and_are_truncated(candles):
    targets = np.arange(100, 130)
    model = Recorder(context_length=10)
    result = rolling_origin(candles, targets, model, step=DAY, batch_size=7)
    assert len(model.seen) == 30
    for target, context in zip(targets, model.seen, strict=True):
        assert len(context.timestamps) == 10
        assert context.timestamps[-1] == candles["timestamp"].iloc[target - 1]
        assert context.future_timestamps[0] == candles["timestamp"].iloc[target]
        assert not context.ohlcv.flags.writeable
    np.testing.assert_allclose(result.prev_close, candles["close"].to_numpy()[targets - 1])
    np.testing.assert_allclose(result.actual_close, candles["close"].to_numpy()[targets])
    expected = [candles["close"].iloc[t - 10 : t].mean() for t in targets]
    np.testing.assert_allclose(result.point, expected)


def test_changing_the_future_never_changes_a_forecast(candles):
    targets = np.arange(50, 80)
    before = rolling_origin(candles, targets, Recorder(40), step=DAY, batch_size=8)
    for cut in (60, 70):
        changed = candles.copy()
        changed.loc[cut:, ["open", "high", "low", "close", "volume"]] *= 3.0
        after = rolling_origin(changed, targets, Recorder(40), step=DAY, batch_size=8)
        upto = targets <= cut  # forecasts of candle <= cut see only candles < cut
        np.testing.assert_array_equal(before.point[upto], after.point[upto])
        assert not np.allclose(before.point[~upto], after.point[~upto])


def test_horizon_scores_the_last_step_from_an_earlier_origin(candles):
    targets = np.arange(100, 110)
    model = Recorder(5)
    result = rolling_origin(candles, targets, model, step=DAY, horizon=3)
    assert model.seen[0].timestamps[-1] == candles["timestamp"].iloc[97]
    assert len(model.seen[0].future_timestamps) == 3
    np.testing.assert_allclose(result.prev_close, candles["close"].to_numpy()[targets - 3])


def test_naive_forecast_is_the_last_close(candles):
    targets = np.arange(1, 20)
    result = rolling_origin(candles, targets, NaiveForecaster(), step=DAY, batch_size=4,
                            latency_repeats=3)
    np.testing.assert_array_equal(result.point, result.prev_close)
    assert result.samples is None and result.latency_s_per_forecast_batched >= 0
    assert result.latency_s_single >= 0


def test_bad_targets_are_rejected(candles):
    with pytest.raises(ValueError, match="no targets"):
        rolling_origin(candles, np.array([], dtype=int), NaiveForecaster(), step=DAY)
    with pytest.raises(ValueError, match="targets must lie"):
        rolling_origin(candles, np.array([0]), NaiveForecaster(), step=DAY)
    with pytest.raises(ValueError, match="targets must lie"):
        rolling_origin(candles, np.array([len(candles)]), NaiveForecaster(), step=DAY)
