"""The selected configuration run on both splits: its forecasts, 80% band and PIT values,
for the report's figures and the DVC forecast-vs-actual plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cryptocast.config import EvalConfig
from cryptocast.data.schema import INTERVALS
from cryptocast.data.store import load_series, read_splits
from cryptocast.evaluation.backtest import BacktestResult, make_context
from cryptocast.evaluation.evaluate import backtest_candidates
from cryptocast.forecast.base import OHLCV, Forecaster
from cryptocast.forecast.registry import build_forecaster
from cryptocast.tuning.ensemble import combine
from cryptocast.tuning.records import Record


def _forecasters(record: Record, models_dir: str | Path, seed: int) -> dict[str, Forecaster]:
    """The record's forecaster, or an ensemble's two members by family."""
    config = record.config
    specs = config["members"] if config["model"] == "ensemble" else {"best": config}
    return {name: build_forecaster(name, spec, models_dir, seed) for name, spec in specs.items()}


def _combined(record: Record, by_name: dict[str, BacktestResult], seed: int) -> BacktestResult:
    config = record.config
    if config["model"] != "ensemble":
        return by_name["best"]
    return combine(by_name["toto"], by_name["kronos"], config["weight"], config["kind"], seed,
                   record.symbol)


def backtest_record(record: Record, cfg: EvalConfig, seed: int, prepared_dir: str | Path,
                    models_dir: str | Path) -> dict[str, BacktestResult]:
    """The record's configuration backtested on both splits (an ensemble: its members,
    combined with its weight)."""
    splits = read_splits(prepared_dir)
    candles = load_series(prepared_dir, splits.interval, record.symbol)
    results = backtest_candidates(candles, record.symbol, splits,
                                  _forecasters(record, models_dir, seed), cfg)
    return {split: _combined(record, by_name, seed) for split, by_name in results.items()}


def forecast_next(record: Record, candles: pd.DataFrame, interval: str, models_dir: str | Path,
                  seed: int) -> BacktestResult:
    """The record's forecast of the candle after the last of `candles` (point, samples)."""
    forecasters = _forecasters(record, models_dir, seed)
    stamps = candles["timestamp"].to_numpy(dtype="datetime64[ns]")
    ohlcv = candles[list(OHLCV)].to_numpy(dtype=np.float64)
    by_name = {}
    for name, forecaster in forecasters.items():
        context = make_context(stamps, ohlcv, len(candles), forecaster.context_length, 1,
                               INTERVALS[interval], record.symbol)
        forecast = forecaster.predict([context])
        samples = None if forecast.samples is None else forecast.samples[:, :, 0]
        by_name[name] = BacktestResult(context.future_timestamps, context.close[-1:],
                                       np.full(1, np.nan), forecast.point[:, 0], samples, 0.0, 0.0)
    return _combined(record, by_name, seed)


BAND_LEVELS = (0.01, 0.05, 0.1, 0.9, 0.95, 0.99)  # the VaR tails and the 80% band


def forecast_frame(results: dict[str, BacktestResult]) -> pd.DataFrame:
    """One row per forecast: split, timestamp, last and actual close, forecast, the sample
    quantiles q01, q05, q10, q90, q95, q99 (the 80% band and the VaR 95/99 levels; empty
    without samples) and the PIT value (the share of samples at or below the actual close)."""
    frames = []
    for split, r in results.items():
        frame = pd.DataFrame({"split": split, "timestamp": r.timestamps,
                              "prev_close": r.prev_close, "actual_close": r.actual_close,
                              "forecast_close": r.point})
        bands = (np.quantile(r.samples, BAND_LEVELS, axis=1) if r.samples is not None
                 else np.full((len(BAND_LEVELS), len(r.point)), np.nan))
        for level, values in zip(BAND_LEVELS, bands, strict=True):
            frame[f"q{round(100 * level):02d}"] = values
        frame["pit"] = (np.mean(r.samples <= r.actual_close[:, None], axis=1)
                        if r.samples is not None else np.nan)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
