import json

import numpy as np
import pandas as pd
import pytest
from conftest import make_candles
from tiny import eval_config

from cryptocast.data.splits import compute_splits
from cryptocast.evaluation.evaluate import evaluate_candidates, metrics_for_dvc
from cryptocast.forecast.naive import NaiveForecaster, NaiveGaussianForecaster


@pytest.fixture
def setup():
    candles = make_candles(200)
    splits = compute_splits({"X": candles}, "1d", pd.Timedelta(days=1), 30, 20)
    cfg = eval_config(val_steps=30, test_steps=20, n_boot=50, batch_size=16)
    candidates = {"naive": NaiveForecaster(), "gauss": NaiveGaussianForecaster(window=10)}
    return candles, splits, cfg, candidates


def test_every_split_and_candidate_is_scored(setup):
    candles, splits, cfg, candidates = setup
    metrics, forecasts = evaluate_candidates(candles, "X", splits, candidates, "naive", cfg)
    assert set(metrics) == {"validation", "test"}
    assert metrics["validation"]["naive"]["n"] == 30 and metrics["test"]["gauss"]["n"] == 20
    naive = metrics["test"]["naive"]
    assert naive["skill_vs_naive"] == 0.0 and naive["dm_pvalue_vs_naive"] == 1.0
    assert naive["crps"] is None and metrics["test"]["gauss"]["crps"] > 0
    close = candles["close"].to_numpy()
    expected_mae = np.mean(np.abs(close[-20:] / close[-21:-1] - 1))
    assert naive["pct_return_mae"] == pytest.approx(expected_mae)
    test_rows = forecasts[(forecasts.split == "test") & (forecasts.candidate == "naive")]
    assert test_rows["timestamp"].min() == splits.test_start
    assert len(forecasts) == 2 * (30 + 20)
    assert naive["latency_s_single"] >= 0 and naive["latency_s_per_forecast_batched"] >= 0
    assert naive["threads"] >= 1


def test_metrics_for_dvc_are_flat_scalars(setup):
    candles, splits, cfg, candidates = setup
    metrics, _ = evaluate_candidates(candles, "X", splits, candidates, "gauss", cfg)
    flat = metrics_for_dvc(metrics)
    row = flat["test"]["naive"]
    assert "mae_diff_vs_naive_ci95_lo" in row and "mae_diff_vs_naive_ci95" not in row
    assert row["mae_diff_vs_reference_ci95_lo"] <= row["mae_diff_vs_reference_ci95_hi"]
    assert all(not isinstance(v, list | dict) for v in row.values())
    json.dumps(flat, allow_nan=False)


def test_unknown_reference_is_an_error(setup):
    candles, splits, cfg, candidates = setup
    with pytest.raises(ValueError, match="reference candidate 'toto'"):
        evaluate_candidates(candles, "X", splits, candidates, "toto", cfg)


def test_a_bad_knob_fails_before_the_checkpoint_loads(tmp_path, monkeypatch):
    import cryptocast.models.toto.forecaster as toto_forecaster
    from cryptocast.forecast.registry import build_forecaster

    def no_load(folder):
        raise AssertionError("the checkpoint was loaded")

    monkeypatch.setattr(toto_forecaster, "load_checkpoint", no_load)
    with pytest.raises(ValueError, match=r"candidate 'x' \(toto\): unknown keys \['num_sample'\]"):
        build_forecaster("x", {"model": "toto", "num_sample": 8}, tmp_path / "missing")
    with pytest.raises(ValueError, match="num_samples must be a positive int"):
        build_forecaster("x", {"model": "toto", "num_samples": 0}, tmp_path / "missing")


def test_recalibrated_candidates_and_crps_against_the_benchmarks():
    from cryptocast.evaluation.evaluate import backtest_candidates, score_results, with_recalibrated
    from cryptocast.forecast.volatility import EwmaForecaster

    candles = make_candles(400, seed=3)
    splits = compute_splits({"X": candles}, "1d", pd.Timedelta(days=1), 60, 60)
    cfg = eval_config(n_boot=20, latency_repeats=0)
    candidates = {"naive": NaiveForecaster(), "naive_gaussian": NaiveGaussianForecaster(),
                  "ewma": EwmaForecaster(window=100)}
    results = with_recalibrated(backtest_candidates(candles, "X", splits, candidates, cfg))
    assert set(results["test"]) - set(results["validation"]) == {
        "naive_gaussian_calibrated", "ewma_calibrated"}
    np.testing.assert_array_equal(results["test"]["ewma_calibrated"].point,
                                  results["test"]["ewma"].point)
    metrics, _ = score_results(results, "naive", cfg, "1d")
    ewma = metrics["test"]["ewma"]
    assert ewma["crps_vs_naive_gaussian"] == pytest.approx(
        ewma["crps"] / metrics["test"]["naive_gaussian"]["crps"])
    assert 0 <= ewma["crps_dm_pvalue_vs_naive_gaussian"] <= 1
    assert metrics["test"]["naive_gaussian"]["crps_vs_naive_gaussian"] == 1.0
    assert "crps_vs_naive_gaussian" not in metrics["test"]["naive"]  # a point forecast
