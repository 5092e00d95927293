"""A fee-aware long/flat trading strategy driven by forecasts, against buy-and-hold.

Defined for horizon-1 forecasts only: each period's return is then the next candle's return,
and periods do not overlap. (For h > 1 the h-step returns overlap, so compounding them is
meaningless; `evaluate_forecasts` reports None for the strategy fields there.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StrategyResult:
    """Performance of a position series.

    total_return: prod(1 + ret) - 1; sharpe: mean/std(ddof=1) * sqrt(periods_per_year), 0 when
    the std is 0 or there are fewer than 2 periods; max_drawdown: largest peak-to-trough
    fractional decline of the equity curve (starting at 1), as a positive number;
    returns: per-period net returns; positions: 0/1 per period.
    """

    total_return: float
    sharpe: float
    max_drawdown: float
    returns: np.ndarray
    positions: np.ndarray


def finite_vector(name: str, x) -> np.ndarray:
    """`x` as a finite 1-D float array; errors name the argument."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _check_fee(fee_bps: float, periods_per_year: float) -> float:
    if not math.isfinite(fee_bps) or fee_bps < 0:
        raise ValueError(f"fee_bps must be a non-negative number, got {fee_bps}")
    if not math.isfinite(periods_per_year) or periods_per_year <= 0:
        raise ValueError(f"periods_per_year must be positive, got {periods_per_year}")
    return fee_bps / 1e4


def sharpe_ratio(returns: np.ndarray, periods_per_year: float) -> float:
    """Annualised Sharpe ratio (zero risk-free rate); 0.0 if fewer than 2 periods or std 0."""
    if returns.size < 2:
        return 0.0
    std = float(np.std(returns, ddof=1))
    if std == 0.0:
        return 0.0
    return float(np.mean(returns)) / std * math.sqrt(periods_per_year)


def max_drawdown(returns: np.ndarray) -> float:
    """Largest fractional decline from a running peak of the equity curve 1, prod(1+ret)..."""
    equity = np.concatenate([[1.0], np.cumprod(1.0 + returns)])
    peak = np.maximum.accumulate(equity)
    return float(np.max(1.0 - equity / peak))


def run_positions(
    positions: np.ndarray, actual_return: np.ndarray, fee: float, periods_per_year: float
) -> StrategyResult:
    """Score a 0/1 position series, starting and ending flat:
    ret_i = pos_i * r_i - fee * |pos_i - pos_{i-1}| (pos_{-1} = 0), and a position still open
    after the last period is closed at its end, paying the fee in that period."""
    previous = np.concatenate([[0.0], positions[:-1]])
    net = positions * actual_return - fee * np.abs(positions - previous)
    if positions.size:
        net[-1] -= fee * positions[-1]
    return StrategyResult(
        total_return=float(np.prod(1.0 + net) - 1.0),
        sharpe=sharpe_ratio(net, periods_per_year),
        max_drawdown=max_drawdown(net),
        returns=net,
        positions=positions,
    )


def long_flat_strategy(
    predicted_return, actual_return, *, fee_bps: float = 10.0, periods_per_year: float = 365.0
) -> StrategyResult:
    """Long for the period when the predicted return exceeds the round-trip cost (twice the
    one-way fee fee_bps / 1e4: a trade pays to enter and to leave), else flat.

    Every change of position costs the one-way fee; the book starts flat and a position open
    at the end is closed (and pays the fee) in the last period.
    """
    pred = finite_vector("predicted_return", predicted_return)
    actual = finite_vector("actual_return", actual_return)
    if pred.shape != actual.shape:
        raise ValueError(
            f"predicted_return and actual_return must have the same length, "
            f"got {pred.size} and {actual.size}"
        )
    fee = _check_fee(fee_bps, periods_per_year)
    positions = (pred > 2.0 * fee).astype(np.float64)
    return run_positions(positions, actual, fee, periods_per_year)


def buy_and_hold(
    actual_return, *, fee_bps: float = 10.0, periods_per_year: float = 365.0
) -> StrategyResult:
    """Always long: the fee is paid on entry in the first period and on exit in the last."""
    actual = finite_vector("actual_return", actual_return)
    fee = _check_fee(fee_bps, periods_per_year)
    return run_positions(np.ones_like(actual), actual, fee, periods_per_year)
