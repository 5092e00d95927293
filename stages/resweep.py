"""DVC stage `resweep@SYMBOL` (plan 4): the sweep again, on the fine-tuned checkpoints
(models/finetuned), with its own pool and study; `select` takes its winners as candidates."""

import sys

import pandas as pd

from cryptocast.config import merge_params
from cryptocast.io import write_atomic, write_json
from cryptocast.runtime import load_and_configure
from cryptocast.tuning.pools import build_pool
from cryptocast.tuning.symbol_sweep import sweep_symbol

if __name__ == "__main__":
    symbol = sys.argv[1]
    params, runtime = load_and_configure()
    # only the families that have a fine-tuned checkpoint are searched again
    params = merge_params(params, {"sweep": {"defaults": params["resweep"]}})
    pools = f"pools/resweep/{symbol}"
    build_pool(params, symbol, "data/prepared", "models/finetuned", pools)
    out = sweep_symbol(params, symbol, "data/prepared", "models/finetuned", pools)
    out["record"].write(f"hyperparams/resweep/{symbol}.json")
    write_json(f"metrics/resweep/{symbol}.json", {**out["metrics"], "runtime": runtime})
    history = pd.DataFrame(out["history"])
    write_atomic(f"plots/resweep/{symbol}.csv", lambda tmp: history.to_csv(tmp, index=False))
