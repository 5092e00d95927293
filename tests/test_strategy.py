"""Long/flat strategy and buy-and-hold against hand-computed values."""

import math

import numpy as np
import pytest

from cryptocast.evaluation.strategy import (
    buy_and_hold,
    long_flat_strategy,
    max_drawdown,
    sharpe_ratio,
)

ACTUAL = np.array([0.01, -0.02, 0.03, -0.01])


def test_long_flat_four_periods_by_hand():
    # fee 10 bps = 0.001 one way; long only when predicted > 0.002 (the round trip), so the
    # second period's 0.0015 (above one fee, below two) stays flat -> positions [1, 0, 1, 0]
    res = long_flat_strategy([0.0025, 0.0015, 0.01, -0.01], ACTUAL, fee_bps=10.0)
    assert res.positions.tolist() == [1.0, 0.0, 1.0, 0.0]
    # enter (fee) +1 %, exit (fee), enter (fee) +3 %, exit (fee)
    assert res.returns == pytest.approx([0.009, -0.001, 0.029, -0.001])
    assert res.total_return == pytest.approx(1.009 * 0.999 * 1.029 * 0.999 - 1)
    # mean 0.009, deviations [0, -0.01, 0.02, -0.01] -> var (1e-4 + 4e-4 + 1e-4) / 3 = 2e-4
    assert res.sharpe == pytest.approx(0.009 / math.sqrt(2e-4) * math.sqrt(365))
    assert res.max_drawdown == pytest.approx(0.001)


def test_fee_on_position_changes_and_the_final_close():
    res = long_flat_strategy([0.01, 0.01, -1.0, 0.01], ACTUAL, fee_bps=10.0)
    assert res.positions.tolist() == [1.0, 1.0, 0.0, 1.0]
    # the last period enters (fee) and the open position is closed at its end (fee again)
    assert res.returns == pytest.approx([0.009, -0.02, -0.001, -0.012])


def test_threshold_is_strict_and_fee_free_strategy():
    # predicted exactly the round-trip cost (2 x 10 bps): stay flat
    assert long_flat_strategy([0.002] * 4, ACTUAL).positions.tolist() == [0.0] * 4
    free = long_flat_strategy([0.5] * 4, ACTUAL, fee_bps=0.0)
    assert free.total_return == pytest.approx(np.prod(1 + ACTUAL) - 1)


def test_buy_and_hold_by_hand():
    res = buy_and_hold(ACTUAL, fee_bps=10.0, periods_per_year=252)
    # the fee on entry (first period) and on the final exit (last period)
    assert res.returns == pytest.approx([0.009, -0.02, 0.03, -0.011])
    assert res.total_return == pytest.approx(1.009 * 0.98 * 1.03 * 0.989 - 1)
    # peak 1.009 then 1.009 * 0.98: a 2 % fall; the later 1.1 % fall is from a new peak
    assert res.max_drawdown == pytest.approx(0.02)
    r = res.returns
    assert res.sharpe == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))


def test_sharpe_and_drawdown_edge_cases():
    assert sharpe_ratio(np.array([0.01, 0.01]), 365) == 0.0  # zero std
    assert sharpe_ratio(np.array([0.01]), 365) == 0.0  # one period
    assert max_drawdown(np.array([0.1, 0.2])) == 0.0  # only up
    assert max_drawdown(np.array([-0.5, 1.0, -0.5])) == pytest.approx(0.5)
    flat = long_flat_strategy([-1.0, -1.0], [0.05, -0.05])
    assert (flat.total_return, flat.sharpe, flat.max_drawdown) == (0.0, 0.0, 0.0)


def test_strategy_input_errors():
    with pytest.raises(ValueError, match="same length"):
        long_flat_strategy([0.1], [0.1, 0.2])
    with pytest.raises(ValueError, match="predicted_return contains NaN"):
        long_flat_strategy([np.nan], [0.1])
    with pytest.raises(ValueError, match="fee_bps"):
        buy_and_hold([0.1], fee_bps=-1)
    with pytest.raises(ValueError, match="periods_per_year"):
        buy_and_hold([0.1], periods_per_year=0)
