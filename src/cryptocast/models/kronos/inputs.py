"""Kronos input handling: six features, per-window normalisation, calendar stamps."""

from __future__ import annotations

import numpy as np

FEATURES = ("open", "high", "low", "close", "volume", "amount")
CLOSE = FEATURES.index("close")
NORM_EPS = 1e-5


def candle_features(prices: np.ndarray, volume: np.ndarray | None = None,
                    amount: np.ndarray | None = None) -> np.ndarray:
    """prices [T, 4] (OHLC) -> features [T, 6].

    amount = volume x mean(OHLC) when absent; volume and amount are zero when volume is absent.
    """
    prices = np.asarray(prices, dtype=np.float64)
    if prices.ndim != 2 or prices.shape[1] != 4:
        raise ValueError(f"prices must be [T, 4] (open, high, low, close), got {prices.shape}")
    if volume is None:
        volume = amount = np.zeros(len(prices))
    elif amount is None:
        amount = np.asarray(volume, dtype=np.float64) * prices.mean(axis=1)
    out = np.column_stack([prices, volume, amount]).astype(np.float64)
    if not np.isfinite(out).all():
        raise ValueError("candle features contain NaN or infinite values")
    return out


PRICED = [0, 1, 2, 3, 5]  # open, high, low, close, amount: the columns in price units


def in_price_units(feats: np.ndarray, unit: np.ndarray | float) -> np.ndarray:
    """feats [..., T, 6] with the price columns (OHLC, amount) divided by `unit` (a scalar or
    one per leading index)."""
    out = np.array(feats, dtype=np.float64, copy=True)
    out[..., PRICED] /= np.asarray(unit, np.float64)[..., None, None] if np.ndim(unit) else unit
    return out


def price_unit(last_close: np.ndarray | float, reference: float | None) -> np.ndarray | float:
    """The unit of price of a window whose last context close is `last_close`, for a tokenizer
    that takes prices in units of last close / `reference` (1 for raw prices)."""
    return np.asarray(last_close, np.float64) / reference if reference else 1.0


def normalise(x: np.ndarray, clip: float,
              lookback: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-column (x - mean) / (std + 1e-5), clipped to [-clip, clip], with mean and std over
    the first `lookback` rows of the window (all rows if None), so that candles after the
    lookback (the targets) never enter the statistics.

    x [..., T, F] -> (normalised, mean [..., 1, F], std [..., 1, F]).
    """
    if not clip > 0:
        raise ValueError(f"clip must be > 0, got {clip}")
    if lookback is not None and not 1 <= lookback <= x.shape[-2]:
        raise ValueError(f"lookback must be in [1, {x.shape[-2]}], got {lookback}")
    stats = x[..., :lookback, :]
    mean = stats.mean(axis=-2, keepdims=True)
    std = stats.std(axis=-2, keepdims=True)
    return np.clip((x - mean) / (std + NORM_EPS), -clip, clip), mean, std


def denormalise(y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Inverse of `normalise` (without the clipping)."""
    return y * (std + NORM_EPS) + mean


def time_stamps(timestamps: np.ndarray) -> np.ndarray:
    """datetime64 [T] -> int64 [T, 5]: minute, hour, weekday (Mon=0), day, month."""
    minutes = np.asarray(timestamps, dtype="datetime64[ns]").astype("datetime64[m]")
    days = minutes.astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    of_day = (minutes - days).astype(np.int64)
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    day = (days - months).astype(np.int64) + 1
    return np.column_stack([of_day % 60, of_day // 60, weekday, day,
                            months.astype(np.int64) % 12 + 1]).astype(np.int64)
