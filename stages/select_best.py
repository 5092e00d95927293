"""DVC stage `select`: per symbol, the candidate with the best validation pct_return_mae among
every stage's (naive included), as hyperparams/best/<SYMBOL>.json, summarised in
metrics/best.json. The test split never enters the choice."""

from cryptocast.config import EvalConfig, load_params, symbols_from_params
from cryptocast.io import write_json
from cryptocast.tuning.select import best_record

if __name__ == "__main__":
    params = load_params()
    horizon = EvalConfig.from_params(params).horizon
    summary = {}
    for symbol in symbols_from_params(params):
        record = best_record(params, symbol, "metrics", "hyperparams/crypto_improved",
                             "data/prepared", "models", horizon)
        record.write(f"hyperparams/best/{symbol}.json")
        summary[symbol] = {
            "chosen": record.selection["chosen"],
            "model": record.model,
            "validation_pct_return_mae": record.validation["pct_return_mae"],
            "test_pct_return_mae": record.test["pct_return_mae"],
            "test_naive_pct_return_mae": record.test["naive_pct_return_mae"],
            "test_dm_pvalue_vs_naive": record.test["dm_pvalue_vs_naive"],
        }
    write_json("metrics/best.json", summary)
