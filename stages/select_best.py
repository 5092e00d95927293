"""DVC stage `select`: per symbol, the candidate that `select.rule` picks on validation among
every stage's finalists (naive included; by default behind Hansen's SPA test over every
configuration tried, else naive_gaussian), as hyperparams/best/<SYMBOL>.json, summarised in
metrics/best.json with the SPA and the Model Confidence Sets; then the chosen config run on
both splits (plots/forecast/<SYMBOL>.csv: forecasts, 80% band, PIT). The test split never
enters the choice."""

from cryptocast import layout
from cryptocast.config import EvalConfig
from cryptocast.io import write_atomic, write_json
from cryptocast.runtime import load_and_configure
from cryptocast.tuning.production import backtest_record, forecast_frame
from cryptocast.tuning.select import SelectJob, best_record

if __name__ == "__main__":
    params, _ = load_and_configure()
    job, cfg = SelectJob.from_params(params), EvalConfig.from_params(params)
    summary = {}
    for symbol in job.baselines:
        record = best_record(job, symbol)
        record.write(layout.BEST / f"{symbol}.json")
        frame = forecast_frame(backtest_record(record, cfg, job.seed, layout.PREPARED,
                                               layout.MODELS))
        write_atomic(layout.FORECAST_PLOTS / f"{symbol}.csv",
                     lambda tmp, f=frame: f.to_csv(tmp, index=False))
        selection = record.selection
        summary[symbol] = {
            "chosen": selection["chosen"],
            "rule": selection["rule"],
            "spa_pvalue": selection["spa_pvalue"],
            "spa_configurations": selection["spa_configurations"],
            "spa_best": selection["spa_best"],
            "mcs_validation": sorted(selection["mcs_validation"]),
            "mcs_test": sorted(selection["mcs_test"]),
            "duplicates": selection["duplicates"],
            "model": record.model,
            "validation_pct_return_mae": record.validation["pct_return_mae"],
            "test_pct_return_mae": record.test["pct_return_mae"],
            "test_naive_pct_return_mae": record.test["naive_pct_return_mae"],
            "test_dm_pvalue_vs_naive": record.test["dm_pvalue_vs_naive"],
        }
    write_json(layout.BEST_METRICS, summary)
