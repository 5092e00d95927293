"""DVC stage `resweep@SYMBOL` (plan 4): the sweep again on the fine-tuned checkpoints of the
families in `resweep.families` whose fine-tuning changed the base, with its own pool and
study; when none changed, it says so and searches nothing (it would repeat the sweep)."""

import sys
from pathlib import Path

from cryptocast import layout
from cryptocast.io import read_json, write_atomic, write_json
from cryptocast.runtime import load_and_configure
from cryptocast.tuning.pools import build_pool
from cryptocast.tuning.sweep import HISTORY_COLUMNS, SweepJob
from cryptocast.tuning.sweep_run import sweep_symbol, write_outcome

if __name__ == "__main__":
    symbol = sys.argv[1]
    params, runtime = load_and_configure()
    tuned = {f: read_json(layout.metrics("finetune", f)) for f in params["resweep"]["families"]}
    checkpoints = {f: Path(doc["checkpoints"][symbol]) for f, doc in tuned.items()
                   if not doc["same_as_base"][symbol]}
    out = layout.sweep_outputs("resweep", symbol)
    if not checkpoints:
        out.mkdir(parents=True, exist_ok=True)
        write_json(layout.metrics("resweep", symbol), {
            "skipped": "every fine-tuned checkpoint equals its base (no fine-tuning "
                       "configuration beat the base on validation): the sweep already searched "
                       "these checkpoints", "winners": {}, "runtime": runtime})
        write_atomic(layout.plots("resweep", symbol),
                     lambda tmp: tmp.write_text(",".join(HISTORY_COLUMNS) + "\n"))
        sys.exit(0)
    job = SweepJob.from_params(params, symbol)
    if "toto" in checkpoints:
        build_pool(job.settings, job.eval, job.seed, symbol, layout.PREPARED,
                   checkpoints["toto"], out / "pool")
    outcome = sweep_symbol(job, layout.PREPARED, checkpoints, out / "pool")
    write_outcome(outcome, "resweep", symbol, runtime)
