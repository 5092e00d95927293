"""Rolling-origin backtests in which look-ahead is impossible by construction.

For every evaluated candle j and horizon h, the forecaster receives a `Context` holding copies
of at most `context_length` candles strictly before the origin j - h + 1, and forecasts the
closes of candles j-h+1 .. j; the forecast of candle j is scored. It never sees the frame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from cryptocast.forecast.base import CLOSE, OHLCV, Context, Forecaster


@dataclass(frozen=True)
class BacktestResult:
    """Aligned arrays, one row per evaluated candle."""

    timestamps: np.ndarray  # evaluated candles' open times
    prev_close: np.ndarray  # last close the forecaster saw
    actual_close: np.ndarray
    point: np.ndarray  # forecast close of the evaluated candle
    samples: np.ndarray | None  # [n, S] sampled closes, or None
    latency_s_per_forecast_batched: float  # median over batches of batch time / batch size
    latency_s_single: float | None  # median seconds of one forecast called alone (batch of 1)


def make_context(
    timestamps: np.ndarray,
    ohlcv: np.ndarray,
    origin: int,
    context_length: int,
    horizon: int,
    step: pd.Timedelta,
    series: str = "",
) -> Context:
    """Read-only copies of the candles before row `origin`, and the horizon's timestamps."""
    if origin < 1:
        raise ValueError(f"origin {origin}: a forecast needs at least one candle of context")
    start = max(0, origin - context_length)
    timestamps = timestamps[start:origin].copy()
    ohlcv = ohlcv[start:origin].copy()
    future = timestamps[-1] + np.arange(1, horizon + 1) * step.to_timedelta64()
    for array in (timestamps, ohlcv, future):
        array.setflags(write=False)
    return Context(timestamps=timestamps, ohlcv=ohlcv, future_timestamps=future, series=series)


def rolling_origin(
    candles: pd.DataFrame,
    targets: np.ndarray,
    forecaster: Forecaster,
    *,
    step: pd.Timedelta,
    horizon: int = 1,
    batch_size: int = 64,
    series: str = "",
    latency_repeats: int = 0,
    desc: str | None = None,
) -> BacktestResult:
    """Forecast every evaluated row in `targets` (integer positions in `candles`) of the
    series named `series`. Each forecast's draws are seeded from its own window (see
    `Context.draw_seed`), so results do not depend on `batch_size`. `latency_repeats` single
    forecasts (spread over the targets, results discarded) time a live system's call."""
    targets = np.asarray(targets, dtype=np.int64)
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    origins = targets - horizon + 1
    all_timestamps = candles["timestamp"].to_numpy(dtype="datetime64[ns]")
    all_ohlcv = candles[list(OHLCV)].to_numpy(dtype=np.float64)
    closes = all_ohlcv[:, CLOSE]
    if targets.size == 0:
        raise ValueError("rolling_origin: no targets to forecast")
    if origins.min() < 1 or targets.max() >= len(closes):
        raise ValueError(
            f"targets must lie in rows {horizon}..{len(closes) - 1} for horizon {horizon}"
        )

    def context(origin: int) -> Context:
        return make_context(all_timestamps, all_ohlcv, int(origin), forecaster.context_length,
                            horizon, step, series)

    points, samples, latencies = [], [], []
    batches = range(0, len(origins), batch_size)
    for lo in tqdm(batches, desc=desc or forecaster.name, leave=False, disable=desc is None):
        chunk = origins[lo : lo + batch_size]
        contexts = [context(o) for o in chunk]
        started = time.perf_counter()
        forecast = forecaster.predict(contexts)
        latencies.append((time.perf_counter() - started) / len(chunk))
        points.append(forecast.point[:, -1])
        if forecast.samples is not None:
            samples.append(forecast.samples[:, :, -1])
    singles = []
    for o in np.unique(np.linspace(0, len(origins) - 1, latency_repeats).round().astype(int)):
        single = context(origins[o])
        started = time.perf_counter()
        forecaster.predict([single])
        singles.append(time.perf_counter() - started)
    return BacktestResult(
        timestamps=all_timestamps[targets],
        prev_close=closes[origins - 1],
        actual_close=closes[targets],
        point=np.concatenate(points),
        samples=np.concatenate(samples) if samples else None,
        latency_s_per_forecast_batched=float(np.median(latencies)),
        latency_s_single=float(np.median(singles)) if singles else None,
    )
