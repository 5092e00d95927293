"""DVC stage `ensemble@SYMBOL`: Toto + Kronos sweep winners combined (weighted mean of points,
mixture of samples), weights chosen on validation, scored on both splits beside the members,
the plan's 0.6 / 0.4 and naive."""

import sys

from cryptocast.config import EvalConfig, load_params
from cryptocast.data.prepared import read_splits
from cryptocast.evaluation.evaluate import metrics_for_dvc, score_results
from cryptocast.io import read_json, write_json
from cryptocast.tuning.ensemble import (
    MEMBERS,
    choose_weights,
    ensemble_results,
    load_member_results,
    validation_mae,
)

if __name__ == "__main__":
    symbol = sys.argv[1]
    params = load_params()
    seed = int(params["seed"])
    members = load_member_results(f"forecasts/sweep/{symbol}.npz")
    chosen = choose_weights(members, params["ensemble"]["weights"], seed)
    reference = min(MEMBERS, key=lambda name: validation_mae(members["validation"][name]))
    cfg = EvalConfig.from_params(params)
    metrics, _ = score_results(ensemble_results(members, chosen, seed), reference, cfg,
                               read_splits("data/prepared").interval, seed)
    write_json(f"metrics/ensemble/{symbol}.json", {
        "reference": reference,
        "members": read_json(f"metrics/sweep/{symbol}.json")["winners"],
        "weights": chosen,
        "candidates": metrics_for_dvc(metrics),
    })
