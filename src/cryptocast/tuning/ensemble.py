"""Plan 2.1: Toto + Kronos ensembles of the sweep winners, weights chosen on validation.

Two ways to combine: `mean`, the weighted mean w toto + (1 - w) kronos of the point forecasts
(a point forecast only: the members' samples do not make its distribution), and `mixture`, a
mixture of the two sample sets (w of its samples from Toto, each window drawn from its own
seed), whose median is the point forecast. For each, w is the grid value with the lowest
validation MAE (ties: the first); the plan's fixed 0.6 / 0.4 mean is scored beside them. The
test split is only scored.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from cryptocast.evaluation.backtest import BacktestResult
from cryptocast.evaluation.evaluate import Results
from cryptocast.evaluation.metrics import mean_absolute_error
from cryptocast.forecast.base import draw_seed

MEMBERS = ("sweep_toto", "sweep_kronos")
KINDS = ("mean", "mixture")
PLAN_WEIGHT = 0.6
MIXTURE_SIZE = 2000


def load_member_results(path: str | Path, latencies: Mapping[str, Mapping[str, Any]]
                        ) -> Results:
    """The sweep winners' backtests saved by the sweep stage; `latencies[split][name]` holds
    their `latency_s_per_forecast_batched` and `latency_s_single` (from the sweep metrics)."""
    results: Results = {}
    with np.load(path) as data:
        splits = sorted({key.split("/")[0] for key in data.files})
        for split in splits:
            common = {k: data[f"{split}/{k}"] for k in ("timestamps", "prev_close",
                                                        "actual_close")}
            results[split] = {}
            for name in MEMBERS:
                if f"{split}/{name}/point" not in data.files:
                    raise ValueError(f"{path}: no {name} forecasts; the sweep must search both "
                                     "families for an ensemble")
                timing = latencies[split][name]
                results[split][name] = BacktestResult(
                    timestamps=common["timestamps"].astype("datetime64[ns]"),
                    prev_close=common["prev_close"], actual_close=common["actual_close"],
                    point=data[f"{split}/{name}/point"],
                    samples=data[f"{split}/{name}/samples"].astype(np.float64),
                    latency_s_per_forecast_batched=timing["latency_s_per_forecast_batched"],
                    latency_s_single=timing["latency_s_single"],
                )
    return results


def mixture(a: np.ndarray, b: np.ndarray, weight: float, size: int, seeds: list[int]
            ) -> np.ndarray:
    """[n, size] samples: per row i, round(weight * size) drawn from `a[i]` and the rest from
    `b[i]`, with the generator of `seeds[i]` (a row's draws depend on its seed only)."""
    k = round(weight * size)
    out = np.empty((len(a), size))
    for i, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        out[i, :k] = a[i, rng.integers(0, a.shape[1], k)]
        out[i, k:] = b[i, rng.integers(0, b.shape[1], size - k)]
    return out


def combine(toto: BacktestResult, kronos: BacktestResult, weight: float, kind: str,
            seed: int, series: str) -> BacktestResult:
    """The ensemble's backtest on one split of `series`; its latency is the members'
    together. The mean ensemble has no samples."""
    if kind == "mean":
        point, samples = weight * toto.point + (1.0 - weight) * kronos.point, None
    elif kind == "mixture":
        seeds = [draw_seed(seed, series, stamp) for stamp in toto.timestamps]
        samples = mixture(toto.samples, kronos.samples, weight, MIXTURE_SIZE, seeds)
        point = np.median(samples, axis=1)
    else:
        raise ValueError(f"ensemble kind must be one of {list(KINDS)}, got {kind!r}")
    single = (toto.latency_s_single or 0.0) + (kronos.latency_s_single or 0.0)
    return BacktestResult(toto.timestamps, toto.prev_close, toto.actual_close, point, samples,
                          toto.latency_s_per_forecast_batched
                          + kronos.latency_s_per_forecast_batched, single)


def validation_mae(result: BacktestResult) -> float:
    """pct_return_mae: the mean absolute error of the returns over the last close."""
    return mean_absolute_error(result.point / result.prev_close,
                               result.actual_close / result.prev_close)


def weight_grid(members: Results, weights: list[float], seed: int, series: str
                ) -> dict[str, BacktestResult]:
    """Every (kind, weight) ensemble on validation, named `ensemble_<kind>_w<weight>`."""
    toto, kronos = (members["validation"][m] for m in MEMBERS)
    return {f"ensemble_{kind}_w{w}": combine(toto, kronos, w, kind, seed, series)
            for kind in KINDS for w in weights}


def choose_weights(grid: Mapping[str, BacktestResult], weights: list[float]
                   ) -> dict[str, dict[str, Any]]:
    """Per kind: the weight with the lowest validation MAE among `grid`'s, and every
    weight's MAE."""
    out = {}
    for kind in KINDS:
        maes = {w: validation_mae(grid[f"ensemble_{kind}_w{w}"]) for w in weights}
        best = min(maes, key=maes.get)
        out[kind] = {"weight": best, "validation_mae_by_weight": {str(w): m for w, m in
                                                                  maes.items()}}
    return out


def ensemble_results(members: Results, chosen: dict[str, dict], seed: int, series: str
                     ) -> Results:
    """Members, the chosen ensembles and the plan's 0.6 / 0.4 mean, on every split."""
    out: Results = {}
    for split, by_name in members.items():
        toto, kronos = by_name[MEMBERS[0]], by_name[MEMBERS[1]]
        out[split] = dict(by_name)
        for kind, choice in chosen.items():
            out[split][f"ensemble_{kind}"] = combine(toto, kronos, choice["weight"], kind, seed,
                                                     series)
        out[split]["ensemble_plan_0.6"] = combine(toto, kronos, PLAN_WEIGHT, "mean", seed,
                                                  series)
        out[split]["naive"] = BacktestResult(toto.timestamps, toto.prev_close,
                                             toto.actual_close, toto.prev_close, None, 0.0, 0.0)
    return out
