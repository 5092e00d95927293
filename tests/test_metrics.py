"""Point and probabilistic metrics, and evaluate_forecasts, against hand-computed values."""

import json

import numpy as np
import pytest
from scipy.stats import norm

from cryptocast.evaluation.metrics import (
    crps_from_samples,
    directional_accuracy,
    evaluate_forecasts,
)
from cryptocast.evaluation.risk import risk_keys, risk_metrics

KEYS = {
    "n", "pct_return_mae", "price_mae", "naive_pct_return_mae", "skill_vs_naive",
    "dm_pvalue_vs_naive", "mae_diff_vs_naive_ci95", "dm_pvalue_vs_reference",
    "mae_diff_vs_reference_ci95", "crps", "directional_accuracy", "strategy_return",
    "strategy_sharpe", "strategy_max_drawdown", "buy_hold_return", "buy_hold_sharpe",
    "buy_hold_max_drawdown", *risk_keys(),
}  # fmt: skip


def test_crps_by_hand():
    # samples [1, 2, 3], y = 2: E|X - y| = 2/3; the 6 ordered pairs of distinct samples have
    # |x_i - x_j| summing to 2 (1 + 2 + 1) = 8, so E|X - X'| = 8/6 -> 2/3 - 2/3 = 0.
    # y = 0: E|X - y| = 2 -> 2 - 2/3 = 4/3
    crps = crps_from_samples([[1.0, 2.0, 3.0], [3.0, 1.0, 2.0]], [2.0, 0.0])
    assert crps == pytest.approx([0.0, 4 / 3])


def test_crps_point_mass_is_absolute_error():
    samples = np.full((3, 5), 1.5)
    assert crps_from_samples(samples, [1.0, 1.5, 4.0]) == pytest.approx([0.5, 0.0, 2.5])


def test_crps_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    s, y = rng.normal(size=(4, 7)), rng.normal(size=4)
    pair_sums = np.abs(s[:, :, None] - s[:, None, :]).sum(axis=(1, 2))
    expected = np.abs(s - y[:, None]).mean(axis=1) - 0.5 * pair_sums / (7 * 6)
    assert crps_from_samples(s, y) == pytest.approx(expected)


def test_crps_is_unbiased_for_few_samples():
    # N(0, 1) at y = 0.3: CRPS = y (2 Phi(y) - 1) + 2 phi(y) - 1/sqrt(pi). With 4 samples the
    # empirical-distribution CRPS is too large by E|X - X'| / (2 S) = (2/sqrt(pi)) / 8 = 0.141;
    # the fair estimator is unbiased (standard error of this mean: ~0.0015).
    y = 0.3
    exact = y * (2 * norm.cdf(y) - 1) + 2 * norm.pdf(y) - 1 / np.sqrt(np.pi)
    samples = np.random.default_rng(1).normal(size=(100_000, 4))
    assert crps_from_samples(samples, np.full(100_000, y)).mean() == pytest.approx(exact, abs=0.006)


def test_crps_needs_two_samples():
    with pytest.raises(ValueError, match="at least 2 samples"):
        crps_from_samples([[1.0]], [1.0])


def test_quantiles_coverage_and_pinball_by_hand():
    row = np.arange(11.0)  # linear quantiles: q10 = 1, q90 = 9 (q05 = 0.5, q95 = 9.5)
    samples = np.tile(row, (4, 1))
    m = risk_metrics(samples, np.array([1.0, 9.5, 5.0, -1.0]))
    # the 80% interval [1, 9]: 1 (on the edge: inside), 9.5 out, 5 in, -1 out
    assert m["coverage_80"] == 0.5 and m["width_80"] == pytest.approx(8.0)
    # q10 = 1: y - q = [0, 8.5, 4, -2] -> 0.1 * [0, 8.5, 4] and 0.9 * 2 -> mean 0.6
    assert m["pinball_10"] == pytest.approx((0.85 + 0.4 + 1.8) / 4)
    # the 95% VaR on the lower tail is q05 = 0.5: -1 is below it
    assert m["var95_lower"] == pytest.approx(0.5) and m["var95_lower_exceedance"] == 0.25


def test_directional_accuracy_zero_convention():
    assert directional_accuracy([0.1, -0.1, 0.0, 0.2], [0.2, 0.1, 0.0, -0.1]) == 0.5
    # the naive forecast (return 0) is right only where the actual return is exactly 0
    assert directional_accuracy([0.0, 0.0, 0.0], [0.1, 0.0, -0.1]) == pytest.approx(1 / 3)


PREV = np.array([100.0, 100.0, 100.0, 100.0])
ACTUAL = np.array([101.0, 99.0, 102.0, 100.0])  # returns [0.01, -0.01, 0.02, 0]
PRED = np.array([100.5, 99.5, 101.0, 101.0])  # returns [0.005, -0.005, 0.01, 0.01]


def test_evaluate_forecasts_by_hand():
    out = evaluate_forecasts(PREV, ACTUAL, PRED, n_boot=200)
    assert set(out) == KEYS
    assert out["n"] == 4
    assert out["pct_return_mae"] == pytest.approx(0.0075)  # |err| [.005, .005, .01, .01]
    assert out["price_mae"] == pytest.approx(0.75)
    assert out["naive_pct_return_mae"] == pytest.approx(0.01)
    assert out["skill_vs_naive"] == pytest.approx(0.25)
    assert out["directional_accuracy"] == pytest.approx(0.75)
    lo, hi = out["mae_diff_vs_naive_ci95"]
    assert lo <= -0.0025 <= hi
    assert 0.0 < out["dm_pvalue_vs_naive"] < 1.0
    # long in periods 1, 3, 4 (predicted > 2 fees = 0.002): +1 % -fee, exit fee, +2 % -fee,
    # 0 % and the final close's fee
    assert out["strategy_return"] == pytest.approx(1.009 * 0.999 * 1.019 * 0.999 - 1)
    assert out["buy_hold_return"] == pytest.approx(1.009 * 0.99 * 1.02 * 0.999 - 1)
    for key in ("crps", "coverage_80", "pinball_50", "dm_pvalue_vs_reference",
                "mae_diff_vs_reference_ci95"):  # fmt: skip
        assert out[key] is None
    json.dumps(out, allow_nan=False)
    assert all(type(v) in (int, float, list, type(None)) for v in out.values())


def test_evaluate_with_samples_and_reference():
    samples = PRED[:, None] * np.ones((4, 9))  # point mass at the forecast
    out = evaluate_forecasts(PREV, ACTUAL, PRED, samples=samples, reference_close=PRED, n_boot=50)
    assert out["crps"] == pytest.approx(out["pct_return_mae"])
    assert out["pinball_50"] == pytest.approx(0.5 * out["pct_return_mae"])
    assert out["coverage_80"] == 0.0
    assert out["dm_pvalue_vs_reference"] == 1.0
    assert out["mae_diff_vs_reference_ci95"] == [0.0, 0.0]
    # sample prices are scored in return space: samples / prev - 1
    spread = PREV[:, None] * (1 + np.linspace(-0.03, 0.03, 7))
    out = evaluate_forecasts(PREV, ACTUAL, PRED, samples=spread, n_boot=50)
    actual_ret = ACTUAL / PREV - 1
    assert out["crps"] == pytest.approx(crps_from_samples(spread / 100 - 1, actual_ret).mean())
    assert out["coverage_80"] == 1.0


def test_evaluate_naive_candidate_and_horizon():
    out = evaluate_forecasts(PREV, ACTUAL, PREV, n_boot=50)
    assert out["skill_vs_naive"] == 0.0 and out["dm_pvalue_vs_naive"] == 1.0
    assert out["directional_accuracy"] == 0.25  # only the zero actual return
    assert out["strategy_return"] == 0.0
    longer = evaluate_forecasts(PREV, ACTUAL, PRED, horizon=2, n_boot=50)
    assert longer["strategy_return"] is None and longer["buy_hold_max_drawdown"] is None
    assert longer["dm_pvalue_vs_naive"] is not None
    single = evaluate_forecasts(PREV[:1], ACTUAL[:1], PRED[:1], n_boot=10)
    assert single["dm_pvalue_vs_naive"] is None and single["n"] == 1
    flat = evaluate_forecasts(PREV, PREV, PRED, n_boot=10)  # naive is perfect
    assert flat["skill_vs_naive"] is None


def test_evaluate_is_deterministic_under_seed():
    rng = np.random.default_rng(5)
    prev = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 60)))
    actual = prev * np.exp(rng.normal(0, 0.02, 60))
    pred = prev * np.exp(rng.normal(0, 0.01, 60))
    a = evaluate_forecasts(prev, actual, pred, seed=7, n_boot=300)
    assert a == evaluate_forecasts(prev, actual, pred, seed=7, n_boot=300)
    assert a != evaluate_forecasts(prev, actual, pred, seed=8, n_boot=300)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"actual_close": ACTUAL[:3]}, "length mismatch"),
        ({"prev_close": np.array([100.0, 0.0, 100.0, 100.0])}, "prev_close must be positive"),
        ({"predicted_close": np.array([1.0, np.nan, 1.0, 1.0])}, "predicted_close contains NaN"),
        ({"reference_close": PRED[:2]}, "reference_close"),
        ({"naive_close": -PREV}, "naive_close must be positive"),
        ({"samples": np.ones((3, 5))}, "samples must be"),
        ({"samples": np.full((4, 2), np.inf)}, "samples contains NaN"),
        ({"horizon": 0}, "horizon"),
    ],
)
def test_evaluate_input_errors(kwargs, message):
    args = {"prev_close": PREV, "actual_close": ACTUAL, "predicted_close": PRED, **kwargs}
    with pytest.raises(ValueError, match=message):
        evaluate_forecasts(**args, n_boot=10)


def test_metric_input_errors():
    with pytest.raises(ValueError, match="samples must be"):
        crps_from_samples([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="y must be"):
        crps_from_samples([[1.0, 2.0]], [1.0, 2.0])

