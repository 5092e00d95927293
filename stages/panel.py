"""DVC stage `panel`: every symbol with enough history (`panel.symbols`) scored on the same
validation and test dates by every panel candidate (the plan's configurations applied to all
of them, the family defaults, the panel sweep's winners, naive and naive_gaussian), and the
results pooled: a leaderboard, each candidate's skill per symbol and the plan's verdicts on
the panel. Once per interval of `panel.intervals`, on the same dates: eval.interval's results
at the top of metrics/panel.json (its forecasts in forecasts/panel/), each other interval's
under `other_intervals` (forecasts/panel/<interval>/)."""

from dataclasses import replace

from tqdm import tqdm

from cryptocast import layout
from cryptocast.config import EvalConfig, family_defaults
from cryptocast.data.store import read_splits
from cryptocast.io import read_json, write_json
from cryptocast.runtime import load_and_configure
from cryptocast.tuning.panel import PanelSettings, panel_symbols, pool, splits_at, symbol_losses

if __name__ == "__main__":
    params, runtime = load_and_configure()
    settings = PanelSettings.from_params(params)
    cfg = replace(EvalConfig.from_params(params), latency_repeats=settings.latency_repeats)
    seed = int(params["seed"])
    specs = {**settings.candidates, **{f"{family}_default": {"model": family, **knobs}
                                       for family, knobs in family_defaults(params).items()},
             **{f"panel_sweep_{path.stem}": read_json(path)
                for path in sorted(layout.PANEL_SWEEP.glob("*.json"))}}
    eval_splits = read_splits(layout.PREPARED)
    results = {}
    for interval in settings.intervals:
        splits = splits_at(eval_splits, interval)
        out_dir = layout.PANEL_FORECASTS / ("" if interval == eval_splits.interval else interval)
        symbols, excluded = panel_symbols(layout.PREPARED, splits, settings)
        frames = {symbol: symbol_losses(symbol, specs, cfg, seed, layout.PREPARED,
                                        layout.MODELS, splits, out_dir)
                  for symbol in tqdm(symbols, desc=f"panel {interval}", unit="symbol")}
        results[interval] = {"symbols": symbols, "excluded": excluded, "splits": splits.to_dict(),
                             **pool(frames, settings, list(specs), cfg, seed)}
    write_json(layout.PANEL_METRICS, {**results.pop(eval_splits.interval),
                                      "other_intervals": results,
                                      "runtime": runtime})
