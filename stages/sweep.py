"""DVC stage `sweep@SYMBOL`: the Optuna study over both families (resumed if interrupted),
its winners scored for real on both splits, the trial history and the winner's record."""

import sys

import pandas as pd

from cryptocast.io import write_atomic, write_json
from cryptocast.runtime import load_and_configure
from cryptocast.tuning.symbol_sweep import save_samples, sweep_symbol

if __name__ == "__main__":
    symbol = sys.argv[1]
    params, runtime = load_and_configure()
    out = sweep_symbol(params, symbol, "data/prepared", "models", f"pools/{symbol}")
    out["record"].write(f"hyperparams/sweep/{symbol}.json")
    write_json(f"metrics/sweep/{symbol}.json", {**out["metrics"], "runtime": runtime})
    history = pd.DataFrame(out["history"])
    write_atomic(f"plots/sweep/{symbol}.csv", lambda tmp: history.to_csv(tmp, index=False))
    save_samples(f"forecasts/sweep/{symbol}.npz", out["results"], out["names"])
