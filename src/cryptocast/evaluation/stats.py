"""Forecast comparison statistics: Diebold-Mariano test and block-bootstrap MAE intervals.

Both compare two forecasts of the same targets through their errors ``e1`` and ``e2`` under
absolute-error loss, so the loss differential is ``d_t = |e1_t| - |e2_t|`` (negative mean: the
first forecast is better).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

# Cap on bootstrap index-matrix cells per chunk (n_boot x n int64): about 32 MB.
_BOOT_CHUNK_CELLS = 4_000_000


@dataclass(frozen=True)
class DMResult:
    """Diebold-Mariano test result.

    statistic: the HLN-corrected statistic (None when undefined: identical forecasts, or a
    constant non-zero differential, for which it is infinite); pvalue: two-sided, Student t
    with n-1 degrees of freedom; variance_method: "rectangular", "bartlett" or "none".
    """

    statistic: float | None
    pvalue: float
    n: int
    variance_method: str


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


def autocovariances(d: np.ndarray, max_lag: int) -> np.ndarray:
    """Sample autocovariances gamma_0..gamma_max_lag of ``d`` (divisor n, mean removed)."""
    n = d.size
    c = d - d.mean()
    return np.array([np.dot(c[k:], c[: n - k]) / n for k in range(max_lag + 1)])


def long_run_variance(d: np.ndarray, horizon: int) -> tuple[float, str]:
    """HAC long-run variance of ``d`` for an h-step forecast.

    Rectangular kernel with lags up to h-1 (Diebold & Mariano 1995); if that estimate is not
    positive, Bartlett (Newey-West) weights 1 - k/h over the same lags, which cannot be negative.
    Returns (variance, method).
    """
    lags = min(horizon - 1, d.size - 1)
    gamma = autocovariances(d, lags)
    rect = gamma[0] + 2.0 * gamma[1:].sum()
    if rect > 0:
        return float(rect), "rectangular"
    weights = 1.0 - np.arange(1, lags + 1) / horizon
    return float(gamma[0] + 2.0 * np.dot(weights, gamma[1:])), "bartlett"


def hln_factor(n: int, horizon: int) -> float:
    """Harvey-Leybourne-Newbold (1997) small-sample factor sqrt((n+1-2h+h(h-1)/n)/n)."""
    inner = (n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n
    if inner <= 0:
        raise ValueError(f"horizon {horizon} is too long for n={n} forecasts (HLN factor <= 0)")
    return math.sqrt(inner)


def diebold_mariano(e1, e2, horizon: int = 1) -> DMResult:
    """Two-sided Diebold-Mariano test of equal mean absolute error of two forecasts.

    d = |e1| - |e2|; DM = mean(d) / sqrt(LRV / n) with the HAC long-run variance of
    `long_run_variance`, multiplied by the HLN factor, compared with Student t(n - 1).
    Identical absolute errors (d all zero) give p-value 1.0; a constant non-zero d (zero
    variance) gives p-value 0.0. Needs n >= 2.
    """
    a, b = _errors_pair(e1, e2)
    horizon = check_horizon(horizon)
    n = a.size
    if n < 2:
        raise ValueError(f"diebold_mariano needs at least 2 forecasts, got {n}")
    factor = hln_factor(n, horizon)
    d = np.abs(a) - np.abs(b)
    if not np.any(d):
        return DMResult(None, 1.0, n, "none")
    lrv, method = long_run_variance(d, horizon)
    if lrv <= 0:
        return DMResult(None, 0.0, n, method)
    stat = factor * float(d.mean()) / math.sqrt(lrv / n)
    pvalue = float(2.0 * sps.t.sf(abs(stat), df=n - 1))
    return DMResult(stat, min(pvalue, 1.0), n, method)


def default_block_length(n: int, horizon: int = 1) -> int:
    """Default bootstrap block length max(h, round(n ** (1/3))), at most n."""
    return int(max(1, min(n, max(horizon, round(n ** (1.0 / 3.0))))))


def bootstrap_mae_diff(
    e1,
    e2,
    *,
    horizon: int = 1,
    block_length: int | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of MAE(e1) - MAE(e2) by circular block bootstrap.

    Resamples blocks of ``block_length`` consecutive loss differentials (wrapping around the
    end, so every observation is equally likely and the bootstrap mean is centred on the
    observed difference), keeping autocorrelation within blocks. Seeded ``numpy`` Generator;
    vectorised over resamples. Returns (lo, hi) for the central ``level`` interval.
    """
    a, b = _errors_pair(e1, e2)
    horizon = check_horizon(horizon)
    n = a.size
    if n < 1:
        raise ValueError("bootstrap_mae_diff needs at least 1 forecast")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    length = default_block_length(n, horizon) if block_length is None else int(block_length)
    if not 1 <= length <= n:
        raise ValueError(f"block_length must be in [1, {n}], got {block_length}")
    d = np.abs(a) - np.abs(b)
    n_blocks = -(-n // length)
    offsets = np.arange(length)
    # every block start is drawn up front, so the chunking (memory only) cannot change them
    starts = np.random.default_rng(seed).integers(0, n, size=(n_boot, n_blocks))
    means = np.empty(n_boot)
    chunk = max(1, _BOOT_CHUNK_CELLS // (n_blocks * length))
    for lo in range(0, n_boot, chunk):
        rows = starts[lo : lo + chunk]
        idx = ((rows[:, :, None] + offsets) % n).reshape(len(rows), -1)[:, :n]
        means[lo : lo + len(rows)] = d[idx].mean(axis=1)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return float(lo), float(hi)
