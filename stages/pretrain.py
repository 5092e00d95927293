"""DVC stage `pretrain@FAMILY`: a base checkpoint trained on the broad corpus, or an official
checkpoint imported when params name one."""

import sys

from cryptocast import layout
from cryptocast.config import ModelSettings, symbols_from_params
from cryptocast.io import write_json
from cryptocast.runtime import load_and_configure
from cryptocast.training import pretrain_family

if __name__ == "__main__":
    family = sys.argv[1]
    params, runtime = load_and_configure()
    metrics = pretrain_family(
        family, ModelSettings.from_params(params, family), params["pretrain"][family],
        symbols_from_params(params), int(params["seed"]), prepared_dir=layout.PREPARED,
        out_dir=layout.model(family), plots_dir=layout.plots("pretrain", family, ""),
        state_dir=layout.STATE / "pretrain" / family)
    write_json(layout.metrics("pretrain", family), {**metrics, "runtime": runtime})
