"""What a risk desk reads from a distribution forecast: quantiles (pinball losses), central
intervals (coverage and width), Value-at-Risk on both tails with Kupiec's and Christoffersen's
tests, and the uniformity of the PIT.

Everything is in return space (sample returns over the last close). VaR at level a on the
lower tail is the (1 - a) quantile of the return (a loss when negative); an exceedance is a
return below it (above the a quantile on the upper tail).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

QUANTILE_LEVELS = tuple(round(0.05 * k, 2) for k in range(1, 20))  # 0.05 .. 0.95
INTERVALS = (0.5, 0.8, 0.9, 0.95)
VAR_LEVELS = (0.95, 0.99)


def _xlogy(x: float, y: float) -> float:
    return 0.0 if x == 0 else x * math.log(y)


def kupiec(hits: np.ndarray, rate: float) -> tuple[float, float]:
    """Kupiec's proportion-of-failures test that the exceedances `hits` (bools) occur at
    `rate`: (LR statistic, p-value from chi2(1))."""
    hits = np.asarray(hits, bool)
    n, x = hits.size, int(hits.sum())
    if n == 0:
        raise ValueError("kupiec: no forecasts")
    observed = x / n
    lr = -2.0 * (_xlogy(n - x, 1 - rate) + _xlogy(x, rate)
                 - _xlogy(n - x, 1 - observed) - _xlogy(x, observed))
    lr = max(lr, 0.0)
    return lr, float(sps.chi2.sf(lr, 1))


def christoffersen(hits: np.ndarray, rate: float) -> tuple[float, float, float]:
    """Christoffersen's conditional-coverage test: the independence statistic (first-order
    Markov against independence of the exceedances), the conditional-coverage statistic
    (Kupiec's plus independence) and its p-value from chi2(2)."""
    hits = np.asarray(hits, bool).astype(int)
    pairs = list(zip(hits[:-1], hits[1:], strict=True))
    n00, n01 = pairs.count((0, 0)), pairs.count((0, 1))
    n10, n11 = pairs.count((1, 0)), pairs.count((1, 1))
    p01 = n01 / (n00 + n01) if n00 + n01 else 0.0
    p11 = n11 / (n10 + n11) if n10 + n11 else 0.0
    p = (n01 + n11) / len(pairs) if pairs else 0.0
    independent = _xlogy(n00 + n10, 1 - p) + _xlogy(n01 + n11, p)
    markov = (_xlogy(n00, 1 - p01) + _xlogy(n01, p01) + _xlogy(n10, 1 - p11)
              + _xlogy(n11, p11))
    lr_ind = max(-2.0 * (independent - markov), 0.0)
    lr_cc = kupiec(hits, rate)[0] + lr_ind
    return lr_ind, lr_cc, float(sps.chi2.sf(lr_cc, 2))


def pit_values(sample_returns: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """The probability integral transform: each actual's share of samples at or below it."""
    return np.mean(sample_returns <= actual[:, None], axis=1)


def risk_keys() -> list[str]:
    """The keys `risk_metrics` returns, in order."""
    keys = [f"pinball_{round(100 * lv)}" for lv in QUANTILE_LEVELS] + ["pinball_mean"]
    keys += [f"{k}_{round(100 * c)}" for c in INTERVALS for k in ("coverage", "width")]
    for a in VAR_LEVELS:
        for tail in ("lower", "upper"):
            stem = f"var{round(100 * a)}_{tail}"
            keys += [stem, f"{stem}_exceedance", f"{stem}_kupiec_p", f"{stem}_christoffersen_p"]
    return [*keys, "pit_ks_p"]


def risk_metrics(sample_returns: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """Distribution metrics of forecasts [n, S] (sample returns) against the actual returns
    [n]: `pinball_<q>` per quantile level and their mean; `coverage_<c>` and `width_<c>` of
    the central intervals; per VaR level and tail the VaR's mean, the exceedance rate, and the
    Kupiec and Christoffersen p-values; and the PIT's Kolmogorov-Smirnov p-value."""
    s = np.asarray(sample_returns, np.float64)
    y = np.asarray(actual, np.float64)
    levels = np.array(QUANTILE_LEVELS)
    q = np.quantile(s, levels, axis=1)  # [levels, n]
    diff = y[None, :] - q
    pinball = np.mean(np.maximum(levels[:, None] * diff, (levels[:, None] - 1) * diff), axis=1)
    out = {f"pinball_{round(100 * lv)}": float(v) for lv, v in zip(levels, pinball, strict=True)}
    out["pinball_mean"] = float(pinball.mean())
    for c in INTERVALS:
        lo, hi = np.quantile(s, [(1 - c) / 2, (1 + c) / 2], axis=1)
        out[f"coverage_{round(100 * c)}"] = float(np.mean((y >= lo) & (y <= hi)))
        out[f"width_{round(100 * c)}"] = float(np.mean(hi - lo))
    for a in VAR_LEVELS:
        tag = round(100 * a)
        lower, upper = np.quantile(s, [1 - a, a], axis=1)
        for tail, var, hits in (("lower", lower, y < lower), ("upper", upper, y > upper)):
            out[f"var{tag}_{tail}"] = float(np.mean(var))
            out[f"var{tag}_{tail}_exceedance"] = float(np.mean(hits))
            out[f"var{tag}_{tail}_kupiec_p"] = kupiec(hits, 1 - a)[1]
            out[f"var{tag}_{tail}_christoffersen_p"] = christoffersen(hits, 1 - a)[2]
    out["pit_ks_p"] = float(sps.kstest(pit_values(s, y), "uniform").pvalue)
    return out


def conformal_scale(sample_returns: np.ndarray, actual: np.ndarray, level: float = 0.8
                    ) -> float:
    """Split-conformal widening factor learned on validation forecasts [n, S] (returns): the
    conformal quantile (level ceil((n + 1) level) / n) of |actual - median| / the half-width of
    each forecast's central `level` interval. Scaling a forecast's spread around its median by
    it gives the central interval `level` coverage on exchangeable windows."""
    s = np.asarray(sample_returns, np.float64)
    y = np.asarray(actual, np.float64)
    median = np.median(s, axis=1)
    lo, hi = np.quantile(s, [(1 - level) / 2, (1 + level) / 2], axis=1)
    scores = np.abs(y - median) / np.maximum((hi - lo) / 2, 1e-12)
    rank = min(np.ceil((len(y) + 1) * level) / len(y), 1.0)
    return float(np.quantile(scores, rank))


def rescale(sample_returns: np.ndarray, factor: float) -> np.ndarray:
    """Forecasts [n, S] (returns) with their spread around the median scaled by `factor`."""
    s = np.asarray(sample_returns, np.float64)
    median = np.median(s, axis=1, keepdims=True)
    return median + factor * (s - median)
