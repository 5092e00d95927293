"""Evaluate a symbol's candidates on every split with the rolling-origin engine."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from cryptocast.config import EvalConfig
from cryptocast.data.schema import INTERVALS
from cryptocast.data.splits import SPLITS, Splits
from cryptocast.data.store import load_series, read_splits
from cryptocast.evaluation.backtest import BacktestResult, rolling_origin
from cryptocast.evaluation.metrics import crps_from_samples, evaluate_forecasts
from cryptocast.evaluation.risk import conformal_scale, rescale
from cryptocast.evaluation.stats import loss_dm
from cryptocast.forecast.base import Forecaster
from cryptocast.forecast.registry import build_forecaster

YEAR = pd.Timedelta(days=365)


def backtest_split(
    candles: pd.DataFrame,
    series: str,
    splits: Splits,
    split: str,
    forecaster: Forecaster,
    cfg: EvalConfig,
) -> BacktestResult:
    """Rolling-origin forecasts of every target candle of `split` of the series `series`."""
    targets = np.flatnonzero(splits.target_mask(candles["timestamp"], split))
    return rolling_origin(
        candles,
        targets,
        forecaster,
        step=INTERVALS[splits.interval],
        horizon=cfg.horizon,
        batch_size=cfg.batch_size,
        series=series,
        latency_repeats=cfg.latency_repeats,
        desc=f"{series} {split} {forecaster.name}",
    )


# Backtest results per split and candidate name.
Results = dict[str, dict[str, BacktestResult]]


def point_frame(results: Results) -> pd.DataFrame:
    """The forecasts of every split and candidate as one long frame: split, candidate,
    timestamp, prev_close, actual_close, forecast_close and crps (the window's fair CRPS of
    the return; NaN for a point forecast), windows in time order."""
    frames = []
    for split, by_name in results.items():
        for name, result in by_name.items():
            crps = window_crps(result)
            frames.append(pd.DataFrame({
                "split": split, "candidate": name, "timestamp": result.timestamps,
                "prev_close": result.prev_close, "actual_close": result.actual_close,
                "forecast_close": result.point,
                "crps": np.full(len(result.point), np.nan) if crps is None else crps}))
    return pd.concat(frames, ignore_index=True)


def score_results(
    results: Results, reference: str, cfg: EvalConfig, interval: str, seed: int = 0
) -> tuple[dict[str, dict[str, dict[str, Any]]], pd.DataFrame]:
    """Metrics per split and candidate (`reference` is the DM/bootstrap comparison), and the
    point forecasts of every candidate (`point_frame`)."""
    periods_per_year = YEAR / INTERVALS[interval]
    metrics: dict[str, dict[str, dict[str, Any]]] = {}
    for split, by_name in results.items():
        if reference not in by_name:
            raise ValueError(f"reference candidate {reference!r} is not among {sorted(by_name)}")
        metrics[split] = {}
        for name, result in by_name.items():
            scores = evaluate_forecasts(
                result.prev_close,
                result.actual_close,
                result.point,
                samples=result.samples,
                reference_close=by_name[reference].point,
                horizon=cfg.horizon,
                fee_bps=cfg.fee_bps,
                periods_per_year=periods_per_year,
                n_boot=cfg.n_boot,
                seed=seed,
            )
            metrics[split][name] = {
                **scores,
                "latency_s_per_forecast_batched": result.latency_s_per_forecast_batched,
                "latency_s_single": result.latency_s_single,
                "threads": torch.get_num_threads(),
            }
        for name, block in crps_comparisons(by_name, cfg.horizon).items():
            metrics[split][name].update(block)
    return metrics, point_frame(results)


# The distributions every sampled candidate's CRPS is compared with, when scored beside it.
CRPS_BENCHMARKS = ("naive_gaussian", "garch")


def window_crps(result: BacktestResult) -> np.ndarray | None:
    """The fair CRPS of each window's return forecast, or None without 2+ samples."""
    if result.samples is None or result.samples.shape[1] < 2:
        return None
    actual = result.actual_close / result.prev_close - 1
    return crps_from_samples(result.samples / result.prev_close[:, None] - 1, actual)


def crps_comparisons(by_name: Mapping[str, BacktestResult], horizon: int
                     ) -> dict[str, dict[str, float | None]]:
    """Per sampled candidate, its CRPS relative to each benchmark distribution scored beside
    it (`crps_vs_<benchmark>`) and the Diebold-Mariano p-value of equal CRPS."""
    crps = {name: window_crps(result) for name, result in by_name.items()}
    out: dict[str, dict[str, float | None]] = {}
    for name, losses in crps.items():
        if losses is None:
            continue
        out[name] = {}
        for bench in CRPS_BENCHMARKS:
            if crps.get(bench) is None:
                continue
            out[name][f"crps_vs_{bench}"] = float(losses.mean() / crps[bench].mean())
            out[name][f"crps_dm_pvalue_vs_{bench}"] = loss_dm(losses, crps[bench],
                                                              horizon).pvalue
    return out


def with_recalibrated(results: Results) -> Results:
    """`results` with, on the test split, `<name>_calibrated` for every sampled candidate: its
    test forecasts' spread scaled by the split-conformal factor learned on its validation
    forecasts (`risk.conformal_scale`, 80% interval; the point forecast is kept). Validation
    is only learned from."""
    out = {split: dict(by_name) for split, by_name in results.items()}
    for name, val in results["validation"].items():
        test = results["test"][name]
        if val.samples is None or test.samples is None:
            continue
        factor = conformal_scale(val.samples / val.prev_close[:, None] - 1,
                                 val.actual_close / val.prev_close - 1)
        returns = rescale(test.samples / test.prev_close[:, None] - 1, factor)
        out["test"][f"{name}_calibrated"] = dataclasses.replace(
            test, samples=test.prev_close[:, None] * (1 + returns))
    return out


def backtest_candidates(
    candles: pd.DataFrame,
    series: str,
    splits: Splits,
    candidates: Mapping[str, Forecaster],
    cfg: EvalConfig,
    split_names: Sequence[str] = SPLITS,
) -> Results:
    """Rolling-origin forecasts of every candidate on every split of the series `series`."""
    return {
        split: {
            name: backtest_split(candles, series, splits, split, forecaster, cfg)
            for name, forecaster in candidates.items()
        }
        for split in split_names
    }


def evaluate_candidates(
    candles: pd.DataFrame,
    series: str,
    splits: Splits,
    candidates: Mapping[str, Forecaster],
    reference: str,
    cfg: EvalConfig,
    seed: int = 0,
    split_names: Sequence[str] = SPLITS,
    recalibrated: bool = False,
) -> tuple[dict[str, dict[str, dict[str, Any]]], pd.DataFrame]:
    """Backtest and score the candidates on the series `series` (see `score_results`; with
    `recalibrated`, `with_recalibrated` first)."""
    if reference not in candidates:
        raise ValueError(f"reference candidate {reference!r} is not among {sorted(candidates)}")
    results = backtest_candidates(candles, series, splits, candidates, cfg, split_names)
    if recalibrated:
        results = with_recalibrated(results)
    return score_results(results, reference, cfg, splits.interval, seed)


def evaluate_symbol(
    prepared_dir: str | Path,
    models_dir: str | Path,
    symbol: str,
    candidate_specs: Mapping[str, Mapping[str, Any]],
    reference: str,
    cfg: EvalConfig,
    seed: int = 0,
    split_names: Sequence[str] = SPLITS,
    recalibrated: bool = False,
) -> tuple[dict[str, dict[str, dict[str, Any]]], pd.DataFrame]:
    """Build the candidates from their specs and evaluate them on `symbol`'s splits (with
    `recalibrated`, also every sampled candidate recalibrated on validation, on test)."""
    splits = read_splits(prepared_dir)
    if splits.interval != cfg.interval:
        raise ValueError(
            f"eval.interval is {cfg.interval!r} but the prepared splits are on "
            f"{splits.interval!r}; rerun the prepare stage"
        )
    candles = load_series(prepared_dir, splits.interval, symbol)
    candidates = {
        name: build_forecaster(name, spec, models_dir, seed)
        for name, spec in candidate_specs.items()
    }
    return evaluate_candidates(
        candles, symbol, splits, candidates, reference, cfg, seed, split_names, recalibrated
    )


def metrics_for_dvc(metrics: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Metrics with every [lo, hi] interval split into `<key>_lo` / `<key>_hi` scalars,
    so `dvc metrics show/diff` can read them."""
    flat: dict[str, Any] = {}
    for split, by_candidate in metrics.items():
        flat[split] = {}
        for name, scores in by_candidate.items():
            row: dict[str, Any] = {}
            for key, value in scores.items():
                if isinstance(value, list | tuple):
                    row[f"{key}_lo"], row[f"{key}_hi"] = value
                else:
                    row[key] = value
            flat[split][name] = row
    return flat


# The naive-Gaussian benchmark of pipeline.md: zero mean, 30-candle rolling std.
NAIVE_GAUSSIAN = {"model": "naive_gaussian", "window": 30, "num_samples": 1000}


def family_validation_report(
    family: str,
    knobs: Mapping[str, Any],
    symbols: Sequence[str],
    prepared_dir: str | Path,
    models_dir: str | Path,
    cfg: EvalConfig,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Validation-split scores of a family's default forecaster (`knobs`) beside the
    naive-Gaussian forecast, per symbol: how good is the pretrained checkpoint?"""
    candidates = {family: {"model": family, **knobs}, "naive_gaussian": NAIVE_GAUSSIAN}
    report = {}
    for symbol in symbols:
        metrics, _ = evaluate_symbol(prepared_dir, models_dir, symbol, candidates,
                                     "naive_gaussian", cfg, seed, split_names=("validation",))
        ours, naive = metrics["validation"][family], metrics["validation"]["naive_gaussian"]
        report[symbol] = {
            "crps": ours["crps"],
            "naive_gaussian_crps": naive["crps"],
            "crps_ratio": ours["crps"] / naive["crps"],
            "pct_return_mae": ours["pct_return_mae"],
            "naive_pct_return_mae": naive["pct_return_mae"],
            "coverage_80": ours["coverage_80"],
        }
    return report
