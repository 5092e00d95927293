"""Sample pools: a split forecast once, then any number of configs scored without the model.

Toto: for each context length, a large pool of samples per window (`pool_size`), stored as
returns over the last close; a config with `num_samples` n scores the first n (an i.i.d. draw
of n) aggregated by its spec. `samples_per_batch` bounds memory only, so it needs no pool.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from cryptocast.config import EvalConfig
from cryptocast.data.schema import INTERVALS
from cryptocast.data.splits import Splits
from cryptocast.data.store import load_series, read_splits
from cryptocast.evaluation.backtest import make_context
from cryptocast.evaluation.metrics import crps_from_samples
from cryptocast.forecast.aggregation import aggregate
from cryptocast.forecast.base import CLOSE, OHLCV, Context
from cryptocast.forecast.registry import build_forecaster
from cryptocast.io import write_atomic
from cryptocast.tuning.sweep import SweepSettings, WindowLosses


@dataclass(frozen=True)
class SplitWindows:
    """The rolling-origin windows of one split: contexts of `max_context` candles (a config
    with a shorter context reads their tail), the last seen and the actual closes."""

    split: str
    timestamps: np.ndarray
    prev_close: np.ndarray
    actual_close: np.ndarray
    contexts: list[Context]

    @property
    def actual_return(self) -> np.ndarray:
        return self.actual_close / self.prev_close - 1.0


def split_windows(candles: pd.DataFrame, series: str, splits: Splits, split: str,
                  max_context: int, horizon: int = 1) -> SplitWindows:
    """Horizon-`horizon` windows of every target candle of `split`."""
    targets = np.flatnonzero(splits.target_mask(candles["timestamp"], split))
    stamps = candles["timestamp"].to_numpy(dtype="datetime64[ns]")
    ohlcv = candles[list(OHLCV)].to_numpy(dtype=np.float64)
    step = INTERVALS[splits.interval]
    contexts = [make_context(stamps, ohlcv, int(t - horizon + 1), max_context, horizon, step,
                             series) for t in targets]
    return SplitWindows(split, stamps[targets], ohlcv[targets - horizon, CLOSE],
                        ohlcv[targets, CLOSE], contexts)


def tail(context: Context, length: int) -> Context:
    """The last `length` candles of a context."""
    return Context(context.timestamps[-length:], context.ohlcv[-length:],
                   context.future_timestamps, context.series)


@dataclass(frozen=True)
class TotoPool:
    """Sample returns [windows, pool_size] per context length, for one split."""

    windows: SplitWindows
    returns: dict[int, np.ndarray]
    build_seconds: float

    def losses(self, num_samples: int, spec: str, context_length: int) -> WindowLosses:
        """Per window, the absolute return error of the config's point (num_samples, spec,
        context) and the fair CRPS of its samples."""
        pool = self.returns[context_length]
        if num_samples > pool.shape[1]:
            raise ValueError(f"num_samples {num_samples} exceeds the pool of {pool.shape[1]}")
        returns = pool[:, :num_samples].astype(np.float64)
        actual = self.windows.actual_return
        return WindowLosses(np.abs(aggregate(returns, spec, axis=1) - actual),
                            crps_from_samples(returns, actual))

    def save(self, path: str | Path) -> None:
        write_npz(path, {f"ctx{c}": r for c, r in self.returns.items()})


def write_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """An .npz file, atomically, whose bytes depend on the arrays only (np.savez stamps the
    time into the zip, so identical pools would hash differently for DVC)."""
    def save(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
            for name, array in arrays.items():
                buffer = io.BytesIO()
                np.save(buffer, np.asarray(array), allow_pickle=False)
                archive.writestr(zipfile.ZipInfo(f"{name}.npy", (1980, 1, 1, 0, 0, 0)),
                                 buffer.getvalue())

    write_atomic(path, save)


def build_toto_pool(forecaster_factory, windows: SplitWindows, context_lengths: Sequence[int],
                    pool_size: int) -> TotoPool:
    """Forecast every window once per context length with `pool_size` samples.
    `forecaster_factory(context_length, num_samples)` builds the forecaster."""
    started = time.perf_counter()
    returns = {}
    for length in tqdm(context_lengths, desc=f"toto pool {windows.split}", leave=False):
        forecaster = forecaster_factory(length, pool_size)
        samples = forecaster.predict([tail(c, length) for c in windows.contexts]).samples
        returns[int(length)] = (samples[:, :, -1] / windows.prev_close[:, None] - 1.0
                                ).astype(np.float32)
    return TotoPool(windows, returns, time.perf_counter() - started)


def load_toto_pool(path: str | Path, windows: SplitWindows) -> TotoPool:
    with np.load(path) as data:
        returns = {int(k.removeprefix("ctx")): data[k] for k in data.files}
    return TotoPool(windows, returns, 0.0)


POOL_FILE = "toto_validation.npz"


def max_context(settings: SweepSettings) -> int:
    lengths = [c for f in settings.families for c in getattr(settings, f)["context_length"]]
    return max(lengths)


def sweep_windows(settings: SweepSettings, cfg: EvalConfig, symbol: str,
                  prepared_dir: str | Path) -> tuple[SplitWindows, Splits]:
    """The validation windows a sweep of `symbol` scores at `cfg.horizon` (contexts as long
    as its space's longest), and the splits."""
    splits = read_splits(prepared_dir)
    candles = load_series(prepared_dir, splits.interval, symbol)
    return split_windows(candles, symbol, splits, "validation", max_context(settings),
                         cfg.horizon), splits


def build_pool(settings: SweepSettings, cfg: EvalConfig, seed: int, symbol: str,
               prepared_dir: str | Path, checkpoint: str | Path, out_dir: str | Path
               ) -> dict[str, Any]:
    """The Toto validation pool of `symbol` for every context length of its sweep space, from
    the Toto checkpoint folder `checkpoint`: {windows, pool_size, context_lengths,
    build_seconds}."""
    windows, _ = sweep_windows(settings, cfg, symbol, prepared_dir)

    def factory(length: int, num_samples: int):
        knobs = {"model": "toto", "num_samples": num_samples, "context_length": length,
                 "checkpoint": checkpoint}
        return build_forecaster("pool", knobs, seed=seed)

    pool = build_toto_pool(factory, windows, settings.toto["context_length"], settings.pool_size)
    pool.save(Path(out_dir) / POOL_FILE)
    return {"windows": len(windows.contexts), "pool_size": settings.pool_size,
            "context_lengths": sorted(pool.returns), "build_seconds": pool.build_seconds}
