"""DVC stage `ensemble@SYMBOL`: Toto + Kronos sweep winners combined (weighted mean of points,
mixture of samples), weights chosen on validation, scored on both splits beside the members,
the plan's 0.6 / 0.4 and naive; every weight's validation forecasts kept for the selection
gate."""

import sys

import pandas as pd

from cryptocast import layout
from cryptocast.config import EvalConfig, load_params
from cryptocast.data.store import read_splits
from cryptocast.evaluation.evaluate import metrics_for_dvc, point_frame, score_results
from cryptocast.io import read_json, write_atomic, write_json
from cryptocast.tuning.ensemble import (
    MEMBERS,
    choose_weights,
    ensemble_results,
    load_member_results,
    validation_mae,
    weight_grid,
)

if __name__ == "__main__":
    symbol = sys.argv[1]
    params = load_params()
    seed = int(params["seed"])
    sweep = read_json(layout.metrics("sweep", symbol))
    members = load_member_results(layout.sweep_outputs("sweep", symbol) / "samples.npz",
                                  sweep["candidates"])
    weights = params["ensemble"]["weights"]
    grid = weight_grid(members, weights, seed, symbol)
    chosen = choose_weights(grid, weights)
    reference = min(MEMBERS, key=lambda name: validation_mae(members["validation"][name]))
    metrics, forecasts = score_results(ensemble_results(members, chosen, seed, symbol),
                                       reference, EvalConfig.from_params(params),
                                       read_splits(layout.PREPARED).interval, seed)
    frame = pd.concat([forecasts, point_frame({"validation": grid})], ignore_index=True)
    write_atomic(layout.point_forecasts("ensemble", symbol),
                 lambda tmp: frame.to_parquet(tmp, index=False))
    write_json(layout.metrics("ensemble", symbol), {
        "reference": reference,
        "members": sweep["winners"],
        "weights": chosen,
        "candidates": metrics_for_dvc(metrics),
    })
