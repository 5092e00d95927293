"""Point and probabilistic forecast metrics, and the per-(symbol, candidate, split) summary.

Conventions, for forecast i: origin close p_i (last close before the target), actual close a_i,
predicted close f_i. Predicted return r̂_i = f_i / p_i - 1, actual return r_i = a_i / p_i - 1.

- Returns and return errors are fractions: pct_return_mae = 0.0195 means 1.95 %.
- The naive forecast is f = p (return 0).
- Distributional metrics are in return space: sample returns = samples / p - 1.
- Sample quantiles use ``np.quantile``'s default (linear interpolation, "type 7").
- Directional accuracy compares np.sign: a 0 prediction (e.g. naive) matches only a 0 actual.
"""

from __future__ import annotations

import math

import numpy as np

from cryptocast.evaluation.risk import risk_keys, risk_metrics
from cryptocast.evaluation.stats import bootstrap_mae_diff, check_horizon, diebold_mariano
from cryptocast.evaluation.strategy import buy_and_hold, finite_vector, long_flat_strategy


def _prices(name: str, x) -> np.ndarray:
    arr = finite_vector(name, x)
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be positive prices, got min {arr.min()}")
    return arr


def _same_length(**arrays: np.ndarray) -> None:
    lengths = {name: a.shape[0] for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"length mismatch: {lengths}")


def _samples_and_target(samples, y) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(samples, dtype=np.float64)
    t = np.asarray(y, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] < 1:
        raise ValueError(f"samples must be [n, S] with S >= 1, got shape {s.shape}")
    if t.ndim != 1 or t.shape[0] != s.shape[0]:
        raise ValueError(f"y must be 1-D with length {s.shape[0]} (samples rows), got {t.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("samples contains NaN or infinite values")
    if not np.all(np.isfinite(t)):
        raise ValueError("y contains NaN or infinite values")
    return s, t


def simple_return(price, base) -> np.ndarray:
    """price / base - 1 (broadcasts: base [n] against price [n] or [n, S] via base[:, None])."""
    price = np.asarray(price, dtype=np.float64)
    base = np.asarray(base, dtype=np.float64)
    if price.ndim == 2:
        base = base[:, None]
    return price / base - 1.0


def mean_absolute_error(pred, actual) -> float:
    """mean |pred - actual|."""
    return float(np.mean(np.abs(np.asarray(pred, float) - np.asarray(actual, float))))


def crps_from_samples(samples, y) -> np.ndarray:
    """Per-forecast fair (unbiased) CRPS of ``samples`` [n, S] at targets ``y`` [n].

    E|X - y| - E|X - X'| / 2 with E|X - X'| estimated over the S(S-1) pairs of distinct
    samples. (Dividing by S^2 instead gives the CRPS of the empirical distribution, which
    is biased upwards by E|X - X'| / (2S): it penalises a forecaster for drawing few samples.)
    Sorted samples x_(1) <= ... <= x_(S) give sum_{i,j} |x_i - x_j| = 2 sum_i (2i - S - 1) x_(i),
    so the cost is O(S log S) per row. Needs S >= 2.
    """
    s, t = _samples_and_target(samples, y)
    n_samples = s.shape[1]
    if n_samples < 2:
        raise ValueError(f"the fair CRPS needs at least 2 samples per forecast, got {n_samples}")
    abs_err = np.mean(np.abs(s - t[:, None]), axis=1)
    weights = 2.0 * np.arange(1, n_samples + 1) - n_samples - 1.0
    half_spread = np.sort(s, axis=1) @ weights / (n_samples * (n_samples - 1))
    return abs_err - half_spread


def directional_accuracy(predicted_return, actual_return) -> float:
    """Fraction with sign(predicted) == sign(actual); a zero matches only a zero."""
    pred = np.asarray(predicted_return, dtype=np.float64)
    actual = np.asarray(actual_return, dtype=np.float64)
    return float(np.mean(np.sign(pred) == np.sign(actual)))


def _comparison(err, other_err, horizon: int, n_boot: int, seed: int):
    """(DM p-value, bootstrap CI of MAE(err) - MAE(other_err)).

    The p-value is None when the test is undefined: n < 2, or n too small for the horizon.
    """
    n = err.size
    testable = n >= 2 and n + 1 - 2 * horizon + horizon * (horizon - 1) / n > 0
    pvalue = diebold_mariano(err, other_err, horizon).pvalue if testable else None
    lo, hi = bootstrap_mae_diff(err, other_err, horizon=horizon, n_boot=n_boot, seed=seed)
    return pvalue, [lo, hi]


def _distribution_metrics(samples, prev: np.ndarray, actual_ret: np.ndarray) -> dict:
    """CRPS and the risk desk's metrics (`evaluation.risk`: quantiles, intervals, VaR and
    its tests, PIT) in return space; all None without samples."""
    if samples is None:
        return dict.fromkeys(["crps", *risk_keys()])
    s = np.asarray(samples, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != prev.size or s.shape[1] < 1:
        raise ValueError(f"samples must be [n={prev.size}, S], got shape {s.shape}")
    sample_ret = simple_return(s, prev)
    fair = s.shape[1] >= 2  # the unbiased CRPS needs two samples
    crps = float(np.mean(crps_from_samples(sample_ret, actual_ret))) if fair else None
    return {"crps": crps, **risk_metrics(sample_ret, actual_ret)}


def _strategy_metrics(pred_ret, actual_ret, horizon: int, fee_bps: float, ppy: float) -> dict:
    """Long/flat strategy and buy-and-hold figures; all None for horizon > 1."""
    who_results = {"strategy": None, "buy_hold": None}
    if horizon == 1:
        who_results["strategy"] = long_flat_strategy(
            pred_ret, actual_ret, fee_bps=fee_bps, periods_per_year=ppy
        )
        who_results["buy_hold"] = buy_and_hold(actual_ret, fee_bps=fee_bps, periods_per_year=ppy)
    out = {}
    for who, res in who_results.items():
        out[f"{who}_return"] = None if res is None else res.total_return
        out[f"{who}_sharpe"] = None if res is None else res.sharpe
        out[f"{who}_max_drawdown"] = None if res is None else res.max_drawdown
    return out


def _clean(value):
    """Plain Python floats, None for NaN/inf (JSON-serialisable)."""
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, int):
        return value
    value = float(value)
    return value if math.isfinite(value) else None


def evaluate_forecasts(
    prev_close,
    actual_close,
    predicted_close,
    *,
    samples=None,
    naive_close=None,
    reference_close=None,
    horizon: int = 1,
    fee_bps: float = 10.0,
    periods_per_year: float = 365.0,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, float | int | list | None]:
    """All metrics of one candidate on one split, as a flat JSON-serialisable dict.

    prev_close, actual_close, predicted_close: [n] prices (origin close, actual, forecast);
    samples: [n, S] sample prices or None; naive_close: [n], defaults to prev_close;
    reference_close: [n] forecast of the reference candidate, or None. Errors are in return
    space (fractions); comparisons give MAE(candidate) - MAE(other), negative = candidate
    better. Keys with nothing to compute (no samples, no reference, h > 1 for the strategy)
    are None. NaN/inf results are reported as None.
    """
    horizon = check_horizon(horizon)
    prev = _prices("prev_close", prev_close)
    actual = _prices("actual_close", actual_close)
    pred = _prices("predicted_close", predicted_close)
    naive = prev if naive_close is None else _prices("naive_close", naive_close)
    arrays = {
        "prev_close": prev,
        "actual_close": actual,
        "predicted_close": pred,
        "naive_close": naive,
    }
    if reference_close is not None:
        arrays["reference_close"] = _prices("reference_close", reference_close)
    _same_length(**arrays)
    if prev.size == 0:
        raise ValueError("prev_close is empty: no forecasts to evaluate")

    actual_ret = simple_return(actual, prev)
    pred_ret = simple_return(pred, prev)
    err = pred_ret - actual_ret
    naive_err = simple_return(naive, prev) - actual_ret
    mae = float(np.mean(np.abs(err)))
    naive_mae = float(np.mean(np.abs(naive_err)))

    out: dict = {
        "n": int(prev.size),
        "pct_return_mae": mae,
        "price_mae": mean_absolute_error(pred, actual),
        "naive_pct_return_mae": naive_mae,
        "skill_vs_naive": 1.0 - mae / naive_mae if naive_mae > 0 else None,
    }
    dm, ci = _comparison(err, naive_err, horizon, n_boot, seed)
    out["dm_pvalue_vs_naive"], out["mae_diff_vs_naive_ci95"] = dm, ci
    dm = ci = None
    if reference_close is not None:
        ref_err = simple_return(arrays["reference_close"], prev) - actual_ret
        dm, ci = _comparison(err, ref_err, horizon, n_boot, seed)
    out["dm_pvalue_vs_reference"], out["mae_diff_vs_reference_ci95"] = dm, ci
    out.update(_distribution_metrics(samples, prev, actual_ret))
    out["directional_accuracy"] = directional_accuracy(pred_ret, actual_ret)
    out.update(_strategy_metrics(pred_ret, actual_ret, horizon, fee_bps, periods_per_year))
    return {k: _clean(v) for k, v in out.items()}
