"""DVC stage `panel`: every symbol with enough history (`panel.symbols`) scored on the same
validation and test dates by every panel candidate (the plan's configurations applied to all
of them, the family defaults, the panel sweep's winners, naive and naive_gaussian), and the
results pooled: a leaderboard, each candidate's skill per symbol and the plan's verdicts on
the panel."""

from tqdm import tqdm

from cryptocast import layout
from cryptocast.config import EvalConfig, family_defaults
from cryptocast.data.store import read_splits
from cryptocast.io import read_json, write_json
from cryptocast.runtime import load_and_configure
from cryptocast.tuning.panel import PanelSettings, panel_symbols, pool, symbol_losses

if __name__ == "__main__":
    params, runtime = load_and_configure()
    settings = PanelSettings.from_params(params)
    cfg, seed = EvalConfig.from_params(params), int(params["seed"])
    specs = {**settings.candidates, **{f"{family}_default": {"model": family, **knobs}
                                       for family, knobs in family_defaults(params).items()},
             **{f"panel_sweep_{path.stem}": read_json(path)
                for path in sorted(layout.PANEL_SWEEP.glob("*.json"))}}
    splits = read_splits(layout.PREPARED)
    symbols, excluded = panel_symbols(layout.PREPARED, splits, settings)
    frames = {symbol: symbol_losses(symbol, specs, cfg, seed, layout.PREPARED, layout.MODELS,
                                    splits, layout.PANEL_FORECASTS)
              for symbol in tqdm(symbols, desc="panel", unit="symbol")}
    write_json(layout.PANEL_METRICS, {"symbols": symbols, "excluded": excluded,
                                      **pool(frames, settings, list(specs), cfg, seed),
                                      "runtime": runtime})
