"""Shared test helpers: synthetic candles (tests never need the real data); the reference-style
loops of bench/ (kronos_reference) are importable."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))


def make_candles(
    n: int = 300, start: str = "2024-01-01", freq: str = "1D", seed: int = 0
) -> pd.DataFrame:
    """A valid random-walk candle frame with `n` rows."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n))
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(start, periods=n, freq=freq).astype("datetime64[ns]"),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.uniform(10, 100, n),
        }
    )


@pytest.fixture
def candles() -> pd.DataFrame:
    return make_candles()
