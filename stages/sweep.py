"""DVC stage `sweep@SYMBOL`: the Optuna study over both families (resumed if interrupted),
its winners scored for real on both splits, the trial history, every trial's validation
losses and the winner's record."""

import sys

from cryptocast import layout
from cryptocast.runtime import load_and_configure
from cryptocast.tuning.sweep import SweepJob
from cryptocast.tuning.sweep_run import sweep_symbol, write_outcome

if __name__ == "__main__":
    symbol = sys.argv[1]
    params, runtime = load_and_configure()
    job = SweepJob.from_params(params, symbol)
    outcome = sweep_symbol(job, layout.PREPARED,
                           {f: layout.model(f) for f in job.settings.families},
                           layout.pool(symbol))
    outcome.record.write(layout.record("sweep", symbol))
    write_outcome(outcome, "sweep", symbol, runtime)
