"""DVC stage `improved@SYMBOL`: the plan's candidate configs beside the baseline config and
naive, with the expected and measured gain, DM p-value, bootstrap interval and a verdict."""

import sys

from cryptocast.io import write_atomic, write_json
from cryptocast.runtime import load_and_configure
from cryptocast.tuning.improved import evaluate_plan

if __name__ == "__main__":
    symbol = sys.argv[1]
    params, _ = load_and_configure()
    doc, forecasts = evaluate_plan(params, symbol, "hyperparams/crypto_improved",
                                   "data/prepared", "models")
    write_json(f"metrics/improved/{symbol}.json", doc)
    write_atomic(
        f"forecasts/improved/{symbol}.parquet", lambda tmp: forecasts.to_parquet(tmp, index=False)
    )
