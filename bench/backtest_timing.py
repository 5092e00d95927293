"""Milliseconds per forecast of a forecaster over one symbol's validation backtest, as the
stages run it (rolling origins, contexts batched `batch_size` at a time), and the page faults
that cost (docs/operations.md: freed memory is reused)."""

from __future__ import annotations

import dataclasses
import resource
import statistics
import time
from pathlib import Path

from cryptocast.config import EvalConfig
from cryptocast.data.store import load_series, read_splits
from cryptocast.evaluation.evaluate import backtest_split
from cryptocast.forecast.base import Forecaster


def backtest_ms_per_forecast(forecaster: Forecaster, prepared: Path, symbol: str,
                             cfg: EvalConfig, batch_sizes: list[int], repeats: int
                             ) -> dict[str, float]:
    """{"batch_<n>": median over `repeats` backtests of the validation split of
    (wall time / windows) in ms, and "page_faults_batch_<n>": the median minor page faults
    per forecast, for each n of `batch_sizes`; "windows": their count}. The batch sizes
    alternate within each repeat so drifts of the machine hit all alike."""
    splits = read_splits(prepared)
    candles = load_series(prepared, splits.interval, symbol)
    base = dataclasses.replace(cfg, latency_repeats=0)
    times: dict[int, list[float]] = {n: [] for n in batch_sizes}
    faults: dict[int, list[float]] = {n: [] for n in batch_sizes}
    for _ in range(repeats):
        for n in batch_sizes:
            batched = dataclasses.replace(base, batch_size=n)
            faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            started = time.perf_counter()
            result = backtest_split(candles, symbol, splits, "validation", forecaster, batched)
            windows = len(result.point)
            times[n].append((time.perf_counter() - started) * 1000 / windows)
            faulted = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before
            faults[n].append(faulted / windows)
    return {"windows": windows,
            **{f"batch_{n}": round(statistics.median(t), 3) for n, t in times.items()},
            **{f"page_faults_batch_{n}": round(statistics.median(f), 1)
               for n, f in faults.items()}}
