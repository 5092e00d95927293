"""DVC stage `pretrain_eval@FAMILY`: the validation CRPS and MAE of the family's default
forecaster (`models.<family>.forecaster`) on the base checkpoint, beside naive-Gaussian."""

import sys

from cryptocast.config import EvalConfig, load_params, symbols_from_params
from cryptocast.evaluation.evaluate import family_validation_report
from cryptocast.io import write_json
from cryptocast.runtime import RuntimeConfig, configure

if __name__ == "__main__":
    family = sys.argv[1]
    params = load_params()
    runtime = configure(RuntimeConfig.from_params(params))
    report = family_validation_report(
        family,
        params["models"][family]["forecaster"],
        symbols_from_params(params),
        "data/prepared",
        "models",
        EvalConfig.from_params(params),
        seed=int(params["seed"]),
    )
    write_json(f"metrics/pretrain/{family}_validation.json", {**report, "runtime": runtime})
