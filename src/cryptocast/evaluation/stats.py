"""Forecast comparison statistics: Diebold-Mariano test and block-bootstrap intervals.

Both compare two forecasts of the same targets through their errors ``e1`` and ``e2`` under
absolute-error loss, so the loss differential is ``d_t = |e1_t| - |e2_t|`` (negative mean: the
first forecast is better). Absolute errors cluster (volatility does), so ``d`` is
autocorrelated even at horizon 1: the variance is Newey-West's at every horizon.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from arch.bootstrap import CircularBlockBootstrap
from arch.covariance.kernel import Bartlett
from scipy import stats as sps


@dataclass(frozen=True)
class DMResult:
    """Diebold-Mariano test result.

    statistic: the HLN-corrected statistic (None when undefined: identical forecasts, or a
    constant non-zero differential, for which it is infinite); pvalue: two-sided, Student t
    with n-1 degrees of freedom; lags: the Newey-West bandwidth of the variance.
    """

    statistic: float | None
    pvalue: float
    n: int
    lags: int


def _errors_pair(e1: np.ndarray, e2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(e1, dtype=np.float64)
    b = np.asarray(e2, dtype=np.float64)
    for name, arr in (("e1", a), ("e2", b)):
        if arr.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinite values")
    if a.shape != b.shape:
        raise ValueError(f"e1 and e2 must have the same length, got {a.size} and {b.size}")
    return a, b


def check_horizon(horizon: int) -> int:
    """Validate a forecast horizon (positive int)."""
    if isinstance(horizon, bool) or int(horizon) != horizon or horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
    return int(horizon)


def newey_west_lags(n: int, horizon: int = 1) -> int:
    """The bandwidth rule: max(h - 1, floor(4 (n / 100) ** (2/9))) (Newey and West 1994),
    at most n - 1. For n = 120, h = 1: 4 lags."""
    return int(min(max(horizon - 1, math.floor(4.0 * (n / 100.0) ** (2.0 / 9.0))), n - 1))


def long_run_variance(d: np.ndarray, lags: int) -> float:
    """Newey-West (Bartlett kernel, weights 1 - k / (lags + 1)) long-run variance of ``d``
    (mean removed, autocovariances with divisor n); never negative."""
    return float(Bartlett(np.asarray(d, np.float64), bandwidth=lags,
                          force_int=True).cov.long_run[0, 0])


def hln_factor(n: int, horizon: int) -> float:
    """Harvey-Leybourne-Newbold (1997) small-sample factor sqrt((n+1-2h+h(h-1)/n)/n)."""
    inner = (n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n
    if inner <= 0:
        raise ValueError(f"horizon {horizon} is too long for n={n} forecasts (HLN factor <= 0)")
    return math.sqrt(inner)


def diebold_mariano(e1, e2, horizon: int = 1) -> DMResult:
    """Two-sided Diebold-Mariano test of equal mean absolute error of two forecasts with
    errors e1 and e2 (`loss_dm` on |e1| and |e2|)."""
    a, b = _errors_pair(e1, e2)
    return loss_dm(np.abs(a), np.abs(b), horizon)


def loss_dm(loss1, loss2, horizon: int = 1) -> DMResult:
    """Two-sided Diebold-Mariano test of equal expected loss (absolute error, CRPS, ...).

    d = loss1 - loss2; DM = mean(d) / sqrt(LRV / n) with the Newey-West long-run variance over
    `newey_west_lags(n, horizon)` lags, times the HLN factor, compared with Student t(n - 1).
    Identical losses (d all zero) give p-value 1.0; a constant non-zero d (zero variance) gives
    p-value 0.0. Needs n >= 2.
    """
    a, b = _errors_pair(loss1, loss2)
    horizon = check_horizon(horizon)
    n = a.size
    if n < 2:
        raise ValueError(f"diebold_mariano needs at least 2 forecasts, got {n}")
    factor = hln_factor(n, horizon)
    lags = newey_west_lags(n, horizon)
    d = a - b
    if not np.any(d):
        return DMResult(None, 1.0, n, lags)
    lrv = long_run_variance(d, lags)
    if lrv <= 1e-300:
        return DMResult(None, 0.0, n, lags)
    stat = factor * float(d.mean()) / math.sqrt(lrv / n)
    pvalue = float(2.0 * sps.t.sf(abs(stat), df=n - 1))
    return DMResult(stat, min(pvalue, 1.0), n, lags)


def default_block_length(n: int, horizon: int = 1) -> int:
    """Default bootstrap block length max(h, round(n ** (1/3))), at most n."""
    return int(max(1, min(n, max(horizon, round(n ** (1.0 / 3.0))))))


def block_bootstrap_interval(statistic: Callable[..., float], arrays: tuple[np.ndarray, ...],
                             *, horizon: int = 1, block_length: int | None = None,
                             n_boot: int = 2000, seed: int = 0, level: float = 0.95
                             ) -> tuple[float, float]:
    """Percentile interval of ``statistic(*arrays)`` by circular block bootstrap (arch): the
    arrays are resampled together, in blocks of ``block_length`` consecutive rows (wrapping
    around the end), which keeps their autocorrelation and cross-correlation within blocks."""
    n = arrays[0].shape[0]
    if n < 1:
        raise ValueError("a bootstrap needs at least 1 forecast")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    length = default_block_length(n, horizon) if block_length is None else int(block_length)
    if not 1 <= length <= n:
        raise ValueError(f"block_length must be in [1, {n}], got {block_length}")
    bootstrap = CircularBlockBootstrap(length, *arrays, seed=seed)
    lo, hi = bootstrap.conf_int(statistic, reps=n_boot, method="percentile", size=level)
    return float(lo[0]), float(hi[0])


def bootstrap_mae_diff(e1, e2, **options) -> tuple[float, float]:
    """Interval of MAE(e1) - MAE(e2) (`block_bootstrap_interval` options)."""
    a, b = _errors_pair(e1, e2)
    if not np.any(np.abs(a) - np.abs(b)):
        return 0.0, 0.0
    return block_bootstrap_interval(lambda x, y: np.mean(np.abs(x)) - np.mean(np.abs(y)),
                                    (a, b), **options)


def bootstrap_gain(e, e_reference, **options) -> tuple[float, float]:
    """Interval of the gain 1 - MAE(e) / MAE(e_reference) (`block_bootstrap_interval`
    options): the share of the reference's error that the forecast removes."""
    a, b = _errors_pair(e, e_reference)
    if not np.any(b):
        raise ValueError("bootstrap_gain: the reference errors are all zero")
    if not np.any(np.abs(a) - np.abs(b)):
        return 0.0, 0.0
    return block_bootstrap_interval(lambda x, y: 1.0 - np.mean(np.abs(x)) / np.mean(np.abs(y)),
                                    (a, b), **options)
