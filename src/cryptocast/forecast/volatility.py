"""The risk desk's baselines: zero-mean returns with an EWMA (RiskMetrics) or a GARCH(1,1)
volatility. Their point forecast is the last close (the random walk's); what they add is the
distribution: deterministic quantile grids of the return (Gaussian or Student-t), so a
forecast's samples depend on its own context only.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from arch import arch_model
from scipy.stats import norm, t

from cryptocast.forecast.base import Context, Forecast

DISTRIBUTIONS = ("normal", "t")


def standard_grid(num_samples: int, dist: str, df: float) -> np.ndarray:
    """[num_samples] quantiles at (i + 0.5) / n of a unit-variance normal or Student-t."""
    levels = (np.arange(num_samples) + 0.5) / num_samples
    if dist == "normal":
        return norm.ppf(levels)
    return t.ppf(levels, df) * np.sqrt((df - 2.0) / df)


def _returns(close: np.ndarray) -> np.ndarray:
    return np.diff(close) / close[:-1]


def _forecast(contexts: Sequence[Context], sigma: np.ndarray, grid: np.ndarray) -> Forecast:
    """Zero-mean k-step returns of std sigma * sqrt(k), as close samples [B, S, H]."""
    horizon = contexts[0].horizon
    last = np.array([c.close[-1] for c in contexts])
    spread = np.sqrt(np.arange(1, horizon + 1))
    returns = sigma[:, None, None] * grid[None, :, None] * spread[None, None, :]
    return Forecast(point=np.repeat(last[:, None], horizon, axis=1),
                    samples=last[:, None, None] * (1.0 + returns))


@dataclass
class EwmaForecaster:
    """RiskMetrics: sigma^2_t = lam sigma^2_{t-1} + (1 - lam) r^2_{t-1} over the last `window`
    returns (started from their first 30 returns' variance); Gaussian or Student-t (`df`)."""

    name: str = "ewma"
    lam: float = 0.94
    window: int = 250
    dist: str = "normal"
    df: float = 5.0
    num_samples: int = 1000

    def __post_init__(self) -> None:
        if not 0 < self.lam < 1:
            raise ValueError(f"ewma: lam must be in (0, 1), got {self.lam}")
        if self.window < 31:
            raise ValueError(f"ewma: window must be >= 31, got {self.window}")
        if self.dist not in DISTRIBUTIONS or (self.dist == "t" and not self.df > 2):
            raise ValueError(f"ewma: dist must be normal or t (with df > 2), got {self.dist!r}")

    @property
    def context_length(self) -> int:
        return self.window + 1

    def sigma(self, close: np.ndarray) -> float:
        """The next return's EWMA standard deviation."""
        r = _returns(close[-(self.window + 1):])
        var = float(np.var(r[:30], ddof=1)) if len(r) > 1 else 0.0
        for x in r:
            var = self.lam * var + (1.0 - self.lam) * x * x
        return var ** 0.5

    def predict(self, contexts: Sequence[Context]) -> Forecast:
        sigma = np.array([self.sigma(c.close) for c in contexts])
        return _forecast(contexts, sigma, standard_grid(self.num_samples, self.dist, self.df))


@dataclass
class GarchForecaster:
    """GARCH(1,1) with Student-t innovations (`arch`), zero mean, on the returns of the last
    `window` candles. The parameters are refit every `refit_every` candles, at origins whose
    candle number (since 1970) is a multiple of it, on the lookback ending there; in between
    the fitted model is only filtered through the newer returns. A forecast thus depends on its
    own context alone; fits are kept per (series, refit candle)."""

    name: str = "garch"
    window: int = 1000
    refit_every: int = 20
    num_samples: int = 1000
    fits: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.window < 100:
            raise ValueError(f"garch: window must be >= 100, got {self.window}")
        if self.refit_every < 1:
            raise ValueError(f"garch: refit_every must be >= 1, got {self.refit_every}")

    @property
    def context_length(self) -> int:
        return self.window + self.refit_every + 1

    def _params(self, ctx: Context, end: int) -> pd.Series:
        """The parameters fitted on the `window` returns that end at candle `end` of ctx."""
        key = (ctx.series, int(ctx.timestamps[end - 1].astype("datetime64[s]").astype(np.int64)))
        if key not in self.fits:
            r = 100.0 * _returns(ctx.close[max(0, end - self.window - 1):end])
            model = arch_model(r, mean="Zero", vol="GARCH", p=1, q=1, dist="t", rescale=False)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.fits[key] = model.fit(disp="off", show_warning=False).params
        return self.fits[key]

    def _sigma_nu(self, ctx: Context) -> tuple[np.ndarray, float]:
        """The std of the cumulative return 1..H steps ahead [H], and the fitted t's nu."""
        step = (ctx.future_timestamps[0] - ctx.timestamps[-1]).astype("timedelta64[s]")
        number = ctx.timestamps.astype("datetime64[s]").astype(np.int64) // max(
            int(step.astype(np.int64)), 1)
        anchors = np.flatnonzero(number % self.refit_every == 0)
        end = int(anchors[-1]) + 1 if len(anchors) else len(ctx.close)
        params = self._params(ctx, end)
        r = 100.0 * _returns(ctx.close[-(self.window + 1):])
        filtered = arch_model(r, mean="Zero", vol="GARCH", p=1, q=1, dist="t",
                              rescale=False).fix(params.to_numpy())
        variances = filtered.forecast(horizon=ctx.horizon).variance.iloc[-1].to_numpy()
        return np.sqrt(np.cumsum(variances)) / 100.0, float(params["nu"])

    def predict(self, contexts: Sequence[Context]) -> Forecast:
        horizon = contexts[0].horizon
        last = np.array([c.close[-1] for c in contexts])
        samples = np.empty((len(contexts), self.num_samples, horizon))
        for i, ctx in enumerate(contexts):
            sigma, nu = self._sigma_nu(ctx)
            grid = standard_grid(self.num_samples, "t", max(nu, 2.05))
            samples[i] = last[i] * (1.0 + grid[:, None] * sigma[None, :])
        return Forecast(point=np.repeat(last[:, None], horizon, axis=1), samples=samples)
