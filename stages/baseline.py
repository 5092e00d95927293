"""DVC stage `baseline@SYMBOL`: the plan's current configs beside the naive candidates and the
risk desk's volatility baselines (EWMA, GARCH), each sampled candidate also recalibrated on
validation and scored on test (`<name>_calibrated`)."""

import sys

from cryptocast import layout
from cryptocast.config import BaselineSpec, EvalConfig
from cryptocast.evaluation.evaluate import evaluate_symbol, metrics_for_dvc
from cryptocast.forecast.registry import check_family
from cryptocast.io import write_atomic, write_json
from cryptocast.runtime import load_and_configure

if __name__ == "__main__":
    symbol = sys.argv[1]
    params, _ = load_and_configure()
    spec = BaselineSpec.from_params(params, symbol)
    check_family(spec.candidates, spec.family, f"params baseline.{symbol}")
    metrics, forecasts = evaluate_symbol(layout.PREPARED, layout.MODELS, symbol, spec.candidates,
                                         spec.reference, EvalConfig.from_params(params),
                                         seed=int(params["seed"]), recalibrated=True)
    write_json(layout.metrics("baseline", symbol), metrics_for_dvc(metrics))
    write_atomic(layout.point_forecasts("baseline", symbol),
                 lambda tmp: forecasts.to_parquet(tmp, index=False))
