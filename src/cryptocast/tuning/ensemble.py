"""Plan 2.1: Toto + Kronos ensembles of the sweep winners, weights chosen on validation.

Two ways to combine: `mean`, the weighted mean w toto + (1 - w) kronos of the point forecasts,
and `mixture`, a mixture of the two sample sets (w of its samples from Toto), whose median is
the point forecast. For each, w is the grid value with the lowest validation MAE (ties: the
first); the plan's fixed 0.6 / 0.4 mean is scored beside them. The test split is only scored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cryptocast.evaluation.backtest import BacktestResult
from cryptocast.evaluation.evaluate import Results
from cryptocast.evaluation.metrics import mean_absolute_error

MEMBERS = ("sweep_toto", "sweep_kronos")
PLAN_WEIGHT = 0.6
MIXTURE_SIZE = 2000


def load_member_results(path: str | Path) -> Results:
    """The sweep winners' backtests saved by the sweep stage (forecasts/sweep/<SYMBOL>.npz)."""
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
                results[split][name] = BacktestResult(
                    timestamps=common["timestamps"].astype("datetime64[ns]"),
                    prev_close=common["prev_close"], actual_close=common["actual_close"],
                    point=data[f"{split}/{name}/point"],
                    samples=data[f"{split}/{name}/samples"].astype(np.float64),
                    latency_s_per_forecast_batched=float(data[f"{split}/{name}/latency_batched"]),
                    latency_s_single=float(data[f"{split}/{name}/latency_single"]),
                )
    return results


def mixture(a: np.ndarray, b: np.ndarray, weight: float, size: int, seed: int) -> np.ndarray:
    """[n, size] samples: round(weight * size) drawn from the rows of `a`, the rest from `b`."""
    rng = np.random.default_rng(seed)
    k = round(weight * size)
    from_a = a[np.arange(len(a))[:, None], rng.integers(0, a.shape[1], (len(a), k))]
    from_b = b[np.arange(len(b))[:, None], rng.integers(0, b.shape[1], (len(b), size - k))]
    return np.concatenate((from_a, from_b), axis=1)


def combine(toto: BacktestResult, kronos: BacktestResult, weight: float, kind: str,
            seed: int = 0) -> BacktestResult:
    """The ensemble's backtest on one split; its latency is the members' together."""
    samples = mixture(toto.samples, kronos.samples, weight, MIXTURE_SIZE, seed)
    if kind == "mean":
        point = weight * toto.point + (1.0 - weight) * kronos.point
    elif kind == "mixture":
        point = np.median(samples, axis=1)
    else:
        raise ValueError(f"ensemble kind must be mean or mixture, got {kind!r}")
    single = (toto.latency_s_single or 0.0) + (kronos.latency_s_single or 0.0)
    return BacktestResult(toto.timestamps, toto.prev_close, toto.actual_close, point, samples,
                          toto.latency_s_per_forecast_batched
                          + kronos.latency_s_per_forecast_batched, single)


def validation_mae(result: BacktestResult) -> float:
    """pct_return_mae: the mean absolute error of the returns over the last close."""
    return mean_absolute_error(result.point / result.prev_close,
                               result.actual_close / result.prev_close)


def choose_weights(members: Results, weights: list[float], seed: int = 0
                   ) -> dict[str, dict[str, float]]:
    """Per kind: the weight with the lowest validation MAE, and every weight's MAE."""
    val = members["validation"]
    out = {}
    for kind in ("mean", "mixture"):
        maes = {w: validation_mae(combine(val[MEMBERS[0]], val[MEMBERS[1]], w, kind, seed))
                for w in weights}
        best = min(maes, key=maes.get)
        out[kind] = {"weight": best, "validation_mae_by_weight": {str(w): m for w, m in
                                                                  maes.items()}}
    return out


def ensemble_results(members: Results, chosen: dict[str, dict], seed: int = 0) -> Results:
    """Members, the chosen ensembles and the plan's 0.6 / 0.4 mean, on every split."""
    out: Results = {}
    for split, by_name in members.items():
        toto, kronos = by_name[MEMBERS[0]], by_name[MEMBERS[1]]
        out[split] = dict(by_name)
        for kind, choice in chosen.items():
            out[split][f"ensemble_{kind}"] = combine(toto, kronos, choice["weight"], kind, seed)
        out[split]["ensemble_plan_0.6"] = combine(toto, kronos, PLAN_WEIGHT, "mean", seed)
        out[split]["naive"] = BacktestResult(toto.timestamps, toto.prev_close,
                                             toto.actual_close, toto.prev_close, None, 0.0, 0.0)
    return out
