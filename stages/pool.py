"""DVC stage `pool@SYMBOL`: the Toto sample pool of the symbol's validation windows, one per
context length of its sweep space, so sweeps score configs without running the model."""

import sys

from cryptocast import layout
from cryptocast.config import EvalConfig
from cryptocast.io import write_json
from cryptocast.runtime import load_and_configure
from cryptocast.tuning.pools import build_pool
from cryptocast.tuning.sweep import sweep_settings

if __name__ == "__main__":
    symbol = sys.argv[1]
    params, runtime = load_and_configure()
    summary = build_pool(sweep_settings(params, symbol), EvalConfig.from_params(params),
                         int(params["seed"]), symbol, layout.PREPARED, layout.model("toto"),
                         layout.pool(symbol))
    write_json(layout.metrics("pool", symbol), {**summary, "runtime": runtime})
