"""DVC stage `pretrain_eval@FAMILY`: the validation CRPS and MAE of the family's default
forecaster (`models.<family>.forecaster`) on the base checkpoint, beside naive-Gaussian."""

import sys

from cryptocast import layout
from cryptocast.config import EvalConfig, symbols_from_params
from cryptocast.evaluation.evaluate import family_validation_report
from cryptocast.io import write_json
from cryptocast.runtime import load_and_configure

if __name__ == "__main__":
    family = sys.argv[1]
    params, runtime = load_and_configure()
    report = family_validation_report(family, params["models"][family]["forecaster"],
                                      symbols_from_params(params), layout.PREPARED,
                                      layout.MODELS, EvalConfig.from_params(params),
                                      seed=int(params["seed"]))
    write_json(layout.pretrain_validation(family), {**report, "runtime": runtime})
