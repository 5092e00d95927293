"""DVC stage `select`: per symbol and objective, the candidate chosen on validation among every
stage's finalists, behind a gate that counts what was tried: `point` (pct_return_mae; Hansen's
SPA over every configuration tried, sweep trials included, against naive) as
hyperparams/best/<SYMBOL>.json, and `risk` (CRPS; the SPA over the distributions against
naive_gaussian) as hyperparams/best/<SYMBOL>_risk.json; otherwise naive_gaussian. Summarised in
metrics/best.json with the SPA and the Model Confidence Sets; each choice run on both splits
(plots/forecast/<SYMBOL>.csv and <SYMBOL>_risk.csv: forecasts, bands, VaR quantiles, PIT).
Test never enters a choice."""

from cryptocast import layout
from cryptocast.config import EvalConfig
from cryptocast.io import write_atomic, write_json
from cryptocast.runtime import load_and_configure
from cryptocast.tuning.production import backtest_record, forecast_frame
from cryptocast.tuning.select import SelectJob, best_record


def summary(record) -> dict:
    selection = record.selection
    keys = ("chosen", "objective", "metric", "spa_pvalue", "spa_configurations", "spa_best",
            "duplicates")
    return {**{k: selection.get(k) for k in keys},
            "mcs_validation": sorted(selection["mcs_validation"]),
            "mcs_test": sorted(selection["mcs_test"]), "model": record.model}


if __name__ == "__main__":
    params, _ = load_and_configure()
    job, cfg = SelectJob.from_params(params), EvalConfig.from_params(params)
    out = {}
    for symbol in job.baselines:
        records = best_record(job, symbol)
        for objective, record in records.items():
            suffix = "" if objective == "point" else f"_{objective}"
            record.write(layout.BEST / f"{symbol}{suffix}.json")
            frame = forecast_frame(backtest_record(record, cfg, job.seed, layout.PREPARED,
                                                   layout.MODELS))
            write_atomic(layout.FORECAST_PLOTS / f"{symbol}{suffix}.csv",
                         lambda tmp, f=frame: f.to_csv(tmp, index=False))
        point = records["point"]
        out[symbol] = {
            **summary(point),
            "rule": point.selection["rule"],
            "validation_pct_return_mae": point.validation["pct_return_mae"],
            "test_pct_return_mae": point.test["pct_return_mae"],
            "test_naive_pct_return_mae": point.test["naive_pct_return_mae"],
            "test_dm_pvalue_vs_naive": point.test["dm_pvalue_vs_naive"],
        }
        if "risk" in records:
            risk = records["risk"]
            out[symbol]["risk"] = {**summary(risk), "validation_crps": risk.validation["crps"],
                                   "test_crps": risk.test["crps"],
                                   "test_vs_benchmarks": risk.selection["test_vs_benchmarks"]}
    write_json(layout.BEST_METRICS, out)
