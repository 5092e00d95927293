"""Kronos's training and validation windows: per-window normalised features and calendar
stamps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from cryptocast.models.kronos.inputs import (
    CLOSE,
    candle_features,
    in_price_units,
    normalise,
    price_unit,
    time_stamps,
)


def _arrays(candles: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    prices = candles[["open", "high", "low", "close"]].to_numpy(np.float64)
    feats = candle_features(prices, candles["volume"].to_numpy(np.float64))
    return feats, time_stamps(candles["timestamp"].to_numpy())


class WindowSampler:
    """Random windows of `window` candles from every series long enough, chosen uniformly
    over all start positions (so longer series give more windows), in the tokenizer's price
    units (`reference`: TokenizerConfig.price_reference)."""

    def __init__(self, frames: Sequence, window: int, clip: float,
                 reference: float | None) -> None:
        if window < 2:
            raise ValueError(f"window must be >= 2, got {window}")
        self.window, self.clip, self.reference = window, clip, reference
        kept = [f for f in frames if len(f.candles) >= window]
        self.series = [_arrays(f.candles) for f in kept]
        self.intervals = [f.interval for f in kept]  # of each kept series, for interval weights
        if not self.series:
            raise ValueError(f"no training series has at least window={window} candles")
        counts = np.array([len(f) - window + 1 for f, _ in self.series], dtype=np.float64)
        self.weights = counts / counts.sum()

    def sample(self, rng: np.random.Generator, batch: int, length: int | None = None,
               lookback: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(x [batch, length, 6] float32, stamp [batch, length, 5] int64); length <= window.
        Each window is in units of its last lookback close and normalised with the statistics
        of its first `lookback` candles (all when None); training passes length - 1, so the
        target candle never enters them."""
        length = self.window if length is None else length
        if not 2 <= length <= self.window:
            raise ValueError(f"length must be in [2, {self.window}], got {length}")
        which = rng.choice(len(self.series), size=batch, p=self.weights)
        xs, stamps = [], []
        for i in which:
            feats, stamp = self.series[i]
            start = int(rng.integers(0, len(feats) - length + 1))
            xs.append(feats[start:start + length])
            stamps.append(stamp[start:start + length])
        windows = np.stack(xs)
        last = windows[:, (lookback or length) - 1, CLOSE]
        units = np.broadcast_to(price_unit(last, self.reference), last.shape)
        x, _, _ = normalise(in_price_units(windows, units), self.clip, lookback)
        return torch.from_numpy(x).float(), torch.from_numpy(np.stack(stamps))


@dataclass(frozen=True)
class ValidationWindows:
    """Windows ending at each validation target candle of one symbol, normalised with the
    statistics of their lookback (every candle but the target), as a forecast is.

    x: normalised [N, L, 6]; stamp [N, L, 5]; mean/std [N, 1, 6] to map back; close: the
    actual target closes [N]; prev_close: the closes one candle earlier [N] (all in each
    window's price units).
    """

    symbol: str
    x: torch.Tensor
    stamp: torch.Tensor
    mean: np.ndarray
    std: np.ndarray
    close: np.ndarray
    prev_close: np.ndarray


def validation_windows(frame, val_start: pd.Timestamp, window: int, clip: float,
                       reference: float | None) -> ValidationWindows:
    """Windows of min(window, history) candles ending at each target (timestamp >= val_start),
    in units of their last lookback close (`reference`) and normalised on the candles before
    the target only."""
    feats, stamp = _arrays(frame.candles)
    targets = np.flatnonzero(frame.candles["timestamp"].to_numpy() >= np.datetime64(val_start))
    if len(targets) == 0 or targets[0] < 1:
        raise ValueError(f"validation series {frame.symbol}: no targets with history")
    length = min(window, int(targets[0]) + 1)
    if length < 3:
        raise ValueError(f"validation series {frame.symbol}: need 2+ candles before a target")
    idx = targets[:, None] + np.arange(1 - length, 1)[None, :]
    last = feats[targets - 1, CLOSE]
    windows = in_price_units(feats[idx], np.broadcast_to(price_unit(last, reference),
                                                         last.shape))
    x, mean, std = normalise(windows, clip, lookback=length - 1)
    return ValidationWindows(frame.symbol, torch.from_numpy(x).float(),
                             torch.from_numpy(stamp[idx]), mean, std, windows[:, -1, CLOSE],
                             windows[:, -2, CLOSE])
