"""Naive candidates: every model must beat these to be worth its latency."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from cryptocast.forecast.base import Context, Forecast


@dataclass
class NaiveForecaster:
    """Random walk: every future close equals the last observed close."""

    name: str = "naive"
    context_length: int = 1

    def predict(self, contexts: Sequence[Context]) -> Forecast:
        last = np.array([c.close[-1] for c in contexts])
        horizon = contexts[0].horizon
        return Forecast(point=np.repeat(last[:, None], horizon, axis=1))


@dataclass
class NaiveGaussianForecaster:
    """Zero-mean Gaussian returns with the rolling std of the last `window` returns.

    The k-step return has std sigma * sqrt(k). Samples are the Gaussian quantiles at
    (i + 0.5) / num_samples, a deterministic sample whose CRPS matches the Gaussian's closely.
    """

    name: str = "naive_gaussian"
    window: int = 30
    num_samples: int = 1000

    def __post_init__(self) -> None:
        if self.window < 2:
            raise ValueError(f"naive_gaussian: window must be >= 2, got {self.window}")
        if self.num_samples < 1:
            raise ValueError(f"naive_gaussian: num_samples must be >= 1, got {self.num_samples}")

    @property
    def context_length(self) -> int:
        return self.window + 1

    def predict(self, contexts: Sequence[Context]) -> Forecast:
        horizon = contexts[0].horizon
        last = np.array([c.close[-1] for c in contexts])
        sigma = np.array([self._return_std(c.close) for c in contexts])
        z = norm.ppf((np.arange(self.num_samples) + 0.5) / self.num_samples)
        spread = np.sqrt(np.arange(1, horizon + 1))
        returns = sigma[:, None, None] * z[None, :, None] * spread[None, None, :]
        samples = last[:, None, None] * (1.0 + returns)
        return Forecast(point=np.repeat(last[:, None], horizon, axis=1), samples=samples)

    def _return_std(self, close: np.ndarray) -> float:
        returns = np.diff(close[-(self.window + 1) :]) / close[-(self.window + 1) : -1]
        return float(returns.std(ddof=1)) if len(returns) > 1 else 0.0
