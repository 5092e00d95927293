"""DVC stage `panel_sweep`: one configuration per family (`sweep.panel.families`) tuned on the
relative validation MAE over every panel symbol at once (resumed if interrupted); the winners
join the panel's candidates, and Hansen's SPA over every trial says whether any beat the
random walk on the panel's validation windows."""

import pandas as pd

from cryptocast import layout
from cryptocast.config import EvalConfig
from cryptocast.data.store import read_splits
from cryptocast.io import write_atomic, write_json
from cryptocast.runtime import load_and_configure
from cryptocast.tuning.panel import PanelSettings, panel_symbols
from cryptocast.tuning.panel_sweep import panel_sweep_settings, run_panel_sweep
from cryptocast.tuning.sweep import HISTORY_COLUMNS

if __name__ == "__main__":
    params, runtime = load_and_configure()
    settings = panel_sweep_settings(params)
    symbols, _ = panel_symbols(layout.PREPARED, read_splits(layout.PREPARED),
                               PanelSettings.from_params(params))
    outcome = run_panel_sweep(
        settings, EvalConfig.from_params(params), int(params["seed"]), symbols, layout.PREPARED,
        {f: layout.model(f) for f in settings.families}, layout.PANEL_POOLS,
        {f: dict(params["models"][f]["forecaster"]) for f in settings.families},
        int(params["select"]["reps"]))
    for family, config in outcome.winners.items():
        write_json(layout.PANEL_SWEEP / f"{family}.json", config)
    write_atomic(layout.PANEL_SWEEP_TRIALS / "trials.parquet",
                 lambda tmp: outcome.trials.to_parquet(tmp, index=False))
    history = pd.DataFrame(outcome.history, columns=HISTORY_COLUMNS)
    write_atomic(layout.plots("panel_sweep", "history"),
                 lambda tmp: history.to_csv(tmp, index=False))
    write_json(layout.PANEL_SWEEP_METRICS, {**outcome.metrics, "runtime": runtime})
