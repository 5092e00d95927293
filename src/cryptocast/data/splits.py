"""Date-based validation/test splits, identical for every series."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SPLITS = ("validation", "test")


@dataclass(frozen=True)
class Splits:
    """Split dates on the evaluation interval; every date is a candle open time.

    validation targets: val_start <= t < test_start; test targets: test_start <= t <= end.
    Training data (from every series) must close at or before val_start.
    """

    interval: str
    val_start: pd.Timestamp
    test_start: pd.Timestamp
    end: pd.Timestamp

    def target_mask(self, timestamps: pd.Series | np.ndarray, split: str) -> np.ndarray:
        """Boolean mask of the candles whose close is forecast in `split`."""
        ts = pd.DatetimeIndex(timestamps)
        if split == "validation":
            return np.asarray((ts >= self.val_start) & (ts < self.test_start))
        if split == "test":
            return np.asarray((ts >= self.test_start) & (ts <= self.end))
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")

    def to_dict(self) -> dict[str, str]:
        return {
            "interval": self.interval,
            "val_start": self.val_start.isoformat(),
            "test_start": self.test_start.isoformat(),
            "end": self.end.isoformat(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, str]) -> Splits:
        return cls(
            interval=d["interval"],
            val_start=pd.Timestamp(d["val_start"]),
            test_start=pd.Timestamp(d["test_start"]),
            end=pd.Timestamp(d["end"]),
        )


def compute_splits(
    frames: dict[str, pd.DataFrame],
    interval: str,
    step: pd.Timedelta,
    val_steps: int,
    test_steps: int,
) -> Splits:
    """Split dates from the common end of `frames` (symbol -> candles on `interval`).

    test = the last `test_steps` candles up to the earliest last candle among the symbols,
    validation = the `val_steps` candles before it. Every symbol must cover both splits.
    """
    if val_steps < 1 or test_steps < 1:
        raise ValueError(
            f"eval.val_steps and eval.test_steps must be >= 1, got {val_steps}, {test_steps}"
        )
    if not frames:
        raise ValueError("compute_splits: no series given")
    end = min(frame["timestamp"].iloc[-1] for frame in frames.values())
    test_start = end - (test_steps - 1) * step
    val_start = test_start - val_steps * step
    for symbol, frame in frames.items():
        if frame["timestamp"].iloc[0] >= val_start:
            raise ValueError(
                f"{symbol} ({interval}) starts {frame['timestamp'].iloc[0]}, not before the "
                f"validation start {val_start}: no history to forecast from"
            )
    return Splits(interval=interval, val_start=val_start, test_start=test_start, end=end)
