"""DVC stage `improved@SYMBOL`: the plan's candidate configs beside the baseline config and
naive, each judged against the gain the plan claims (held / consistent but unproven /
refuted / reversed) with its DM p-value and bootstrap interval."""

import sys

from cryptocast import layout
from cryptocast.config import BaselineSpec, EvalConfig
from cryptocast.io import write_atomic, write_json
from cryptocast.runtime import load_and_configure
from cryptocast.tuning.improved import evaluate_plan, plan_candidates

if __name__ == "__main__":
    symbol = sys.argv[1]
    params, _ = load_and_configure()
    doc, forecasts = evaluate_plan(symbol, plan_candidates(params, symbol),
                                   BaselineSpec.from_params(params, symbol),
                                   EvalConfig.from_params(params), int(params["seed"]),
                                   layout.IMPROVED_CONFIGS, layout.PREPARED, layout.MODELS)
    write_json(layout.metrics("improved", symbol), doc)
    write_atomic(layout.point_forecasts("improved", symbol),
                 lambda tmp: forecasts.to_parquet(tmp, index=False))
