"""The selected configuration run on both splits: its forecasts, 80% band and PIT values,
for the report's figures and the DVC forecast-vs-actual plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cryptocast.config import EvalConfig
from cryptocast.data.prepared import load_series, read_splits
from cryptocast.evaluation.backtest import BacktestResult
from cryptocast.evaluation.evaluate import backtest_candidates
from cryptocast.forecast.registry import build_forecaster
from cryptocast.tuning.ensemble import combine
from cryptocast.tuning.records import Record


def backtest_record(record: Record, params: dict[str, Any], prepared_dir: str | Path,
                    models_dir: str | Path) -> dict[str, BacktestResult]:
    """The record's configuration backtested on both splits (an ensemble: its members,
    combined with its weight)."""
    cfg = EvalConfig.from_params(params)
    splits = read_splits(prepared_dir)
    candles = load_series(prepared_dir, splits.interval, record.symbol)
    seed = int(params["seed"])
    config = record.config
    specs = config["members"] if config["model"] == "ensemble" else {"best": config}
    forecasters = {name: build_forecaster(name, spec, models_dir, seed)
                   for name, spec in specs.items()}
    results = backtest_candidates(candles, record.symbol, splits, forecasters, cfg)
    if config["model"] != "ensemble":
        return {split: by_name["best"] for split, by_name in results.items()}
    return {split: combine(by_name["toto"], by_name["kronos"], config["weight"], config["kind"],
                           seed) for split, by_name in results.items()}


def forecast_frame(results: dict[str, BacktestResult]) -> pd.DataFrame:
    """One row per forecast: split, timestamp, last and actual close, forecast, the 80% band
    (10% and 90% sample quantiles; empty without samples) and the PIT value (the share of
    samples at or below the actual close)."""
    frames = []
    for split, r in results.items():
        frame = pd.DataFrame({"split": split, "timestamp": r.timestamps,
                              "prev_close": r.prev_close, "actual_close": r.actual_close,
                              "forecast_close": r.point})
        if r.samples is not None:
            frame["q10"], frame["q90"] = np.quantile(r.samples, [0.1, 0.9], axis=1)
            frame["pit"] = np.mean(r.samples <= r.actual_close[:, None], axis=1)
        else:
            frame["q10"] = frame["q90"] = frame["pit"] = np.nan
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
