"""DVC stage `baseline@SYMBOL`: the plan's current configs and the naive candidates."""

import sys

from cryptocast.config import EvalConfig
from cryptocast.evaluation.evaluate import evaluate_symbol, metrics_for_dvc
from cryptocast.forecast.registry import check_family
from cryptocast.io import write_atomic, write_json
from cryptocast.runtime import load_and_configure

if __name__ == "__main__":
    symbol = sys.argv[1]
    params, _ = load_and_configure()
    spec = params["baseline"][symbol]
    check_family(spec["candidates"], spec["family"], f"params baseline.{symbol}")
    metrics, forecasts = evaluate_symbol(
        "data/prepared",
        "models",
        symbol,
        spec["candidates"],
        spec["reference"],
        EvalConfig.from_params(params),
        seed=params["seed"],
    )
    write_json(f"metrics/baseline/{symbol}.json", metrics_for_dvc(metrics))
    write_atomic(
        f"forecasts/baseline/{symbol}.parquet", lambda tmp: forecasts.to_parquet(tmp, index=False)
    )
