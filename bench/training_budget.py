"""What a smaller or larger pretraining budget does on validation: each family pretrained again
with a multiple of params.yaml's optimiser steps (same corpus and schedule shape), its default
forecaster (`models.<family>.forecaster`) scored on the validation windows of every panel
symbol, and pooled against the committed full-budget checkpoint (`models/<family>`) scored on
the same windows. The test split is never read.

Per family and scale: `train_seconds` (this run; the full budget's from
metrics/pretrain/<family>.json, another sitting), the training summary, and pooled over the
panel (`evaluation.panel.pooled_comparison`, joint time-block bootstrap): MAE against naive,
CRPS against naive_gaussian, and both against the full-budget checkpoint (`relative` above 1:
this budget forecasts worse). Toto scales `steps_per_epoch` (its ten validations stay),
Kronos the steps and `eval_every` of both phases. `--seed` trains every budget again from
other seeds (the full one included): how much one training run's outcome varies, beside what
the budget changes. Forecasts draw from params' seed throughout. Entries are named
`<family>-<scale>[-seed<seed>]`; checkpoints go to build/training_budget/<entry> and a
finished one is not trained again. Writes bench/results/training_budget.json (`--out`).

Usage: .venv/bin/python bench/training_budget.py [--scale 0.125 ...] [--seed 43 ...]
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
import numpy as np
import pandas as pd
from tqdm import tqdm

from cryptocast import layout
from cryptocast.config import EvalConfig, ModelSettings, family_defaults, symbols_from_params
from cryptocast.data.splits import Splits
from cryptocast.data.store import load_series, read_splits
from cryptocast.evaluation.evaluate import backtest_split, window_crps
from cryptocast.evaluation.metrics import simple_return
from cryptocast.evaluation.panel import pooled_comparison
from cryptocast.forecast.registry import FAMILIES, build_forecaster
from cryptocast.io import read_json, write_json
from cryptocast.runtime import load_and_configure
from cryptocast.training import pretrain_family
from cryptocast.tuning.panel import PanelSettings, panel_symbols

OUT = Path("bench/results/training_budget.json")


def scaled_budget(family: str, train: dict, scale: float) -> dict:
    """params pretrain.<family> with `scale` times its optimiser steps (at least one step), and
    as many validations."""
    out = dict(train)  # the phases are replaced, not modified
    if family == "toto":
        out["steps_per_epoch"] = max(1, round(train["steps_per_epoch"] * scale))
    else:
        for phase in ("tokenizer", "predictor"):
            steps = max(1, round(train[phase]["steps"] * scale))
            evals = max(1, train[phase]["steps"] // train[phase]["eval_every"])
            out[phase] = {**train[phase], "steps": steps, "eval_every": max(1, steps // evals)}
    return out


def pretrained(family: str, scale: float, seed: int, params: dict, work: Path
               ) -> tuple[Path, dict]:
    """The models folder holding `family`'s checkpoint at `scale` times the budget trained
    from `seed`, and its training summary (the committed checkpoint for the full budget and
    params' seed; otherwise trained now unless a finished one is in `work`)."""
    if scale == 1.0 and seed == int(params["seed"]):
        return layout.MODELS, read_json(layout.metrics("pretrain", family))
    root = work / budget_name(family, scale, seed, int(params["seed"]))
    summary_path = root / "summary.json"
    if not summary_path.exists():
        summary = pretrain_family(
            family, ModelSettings.from_params(params, family),
            scaled_budget(family, params["pretrain"][family], scale),
            symbols_from_params(params), seed, prepared_dir=layout.PREPARED,
            out_dir=root / "models" / family, plots_dir=root / "plots",
            state_dir=root / "state")
        write_json(summary_path, summary)
    return root / "models", read_json(summary_path)


def budget_name(family: str, scale: float, seed: int, base_seed: int) -> str:
    """`<family>-<scale>`, with `-seed<seed>` for a seed other than params' (`base_seed`)."""
    suffix = "" if seed == base_seed else f"-seed{seed}"
    return f"{family}-{scale:g}{suffix}"


def validation_losses(spec: dict, models_dir: Path, candles: dict[str, pd.DataFrame],
                      splits: Splits, cfg: EvalConfig, seed: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """[windows, symbols] absolute return errors and CRPS (NaN for a point forecast) of the
    candidate `spec` on the validation split of every symbol of `candles`."""
    forecaster = build_forecaster(spec["model"], spec, models_dir, seed)
    errors, crps = [], []
    for symbol in tqdm(candles, desc=f"validation {spec['model']}", unit="symbol"):
        result = backtest_split(candles[symbol], symbol, splits, "validation", forecaster, cfg)
        errors.append(np.abs(simple_return(result.point, result.prev_close)
                             - simple_return(result.actual_close, result.prev_close)))
        window = window_crps(result)
        crps.append(np.full(len(result.point), np.nan) if window is None else window)
    return np.column_stack(errors), np.column_stack(crps)


def budget_entry(budget: dict, full: dict | None, naive: np.ndarray, gaussian: np.ndarray,
                 options: dict) -> dict:
    """One budget's report: its training time and summary, its pooled MAE against naive and
    CRPS against naive_gaussian, and (unless `full` is None) both against the full budget."""
    summary = {k: v for k, v in budget["summary"].items() if k != "runtime"}
    entry = {"train_seconds": summary.get("train_seconds", summary.get("total_seconds")),
             "summary": summary,
             "mae_vs_naive": pooled_comparison(budget["errors"], naive, **options).to_dict(),
             "crps_vs_naive_gaussian": pooled_comparison(budget["crps"], gaussian,
                                                         **options).to_dict()}
    if full is not None:
        entry["mae_vs_full"] = pooled_comparison(budget["errors"], full["errors"],
                                                 **options).to_dict()
        entry["crps_vs_full"] = pooled_comparison(budget["crps"], full["crps"],
                                                  **options).to_dict()
    return entry


@click.command()
@click.option("--scale", "scales", multiple=True, type=click.FloatRange(min=0, min_open=True),
              default=(0.125, 0.25, 0.5), show_default=True,
              help="multiples of params.yaml's pretraining steps (the full budget, 1, is always "
                   "scored)")
@click.option("--family", "families", multiple=True, default=FAMILIES,
              type=click.Choice(FAMILIES), show_default=True)
@click.option("--seed", "seeds", multiple=True, type=int,
              help="training seeds besides params' (every scale and the full budget again)")
@click.option("--work", default="build/training_budget", type=click.Path(path_type=Path))
@click.option("--out", default=OUT, type=click.Path(path_type=Path), show_default=True)
def main(scales: tuple[float, ...], families: tuple[str, ...], seeds: tuple[int, ...],
         work: Path, out: Path) -> None:
    params, runtime = load_and_configure()
    cfg = dataclasses.replace(EvalConfig.from_params(params), latency_repeats=0)
    seed = int(params["seed"])
    splits = read_splits(layout.PREPARED)
    symbols, excluded = panel_symbols(layout.PREPARED, splits, PanelSettings.from_params(params))
    candles = {s: load_series(layout.PREPARED, splits.interval, s) for s in symbols}
    naive, _ = validation_losses({"model": "naive"}, layout.MODELS, candles, splits, cfg, seed)
    _, gaussian = validation_losses(params["panel"]["candidates"]["naive_gaussian"],
                                    layout.MODELS, candles, splits, cfg, seed)
    options = {"horizon": cfg.horizon, "n_boot": cfg.n_boot, "seed": seed}
    report = {"symbols": symbols, "excluded": excluded, "split": "validation",
              "windows": int(naive.shape[0]), "families": {}, "runtime": runtime}
    for family in families:
        spec = {"model": family, **family_defaults(params)[family]}
        budgets = {}
        for train_seed in (seed, *seeds):
            for scale in sorted({1.0, *scales}, reverse=True):
                models_dir, summary = pretrained(family, scale, train_seed, params, work)
                errors, crps = validation_losses(spec, models_dir, candles, splits, cfg, seed)
                budgets[budget_name(family, scale, train_seed, seed)] = {
                    "errors": errors, "crps": crps, "summary": summary}
        full = budgets[budget_name(family, 1.0, seed, seed)]
        report["families"][family] = {
            name: budget_entry(b, None if b is full else full, naive, gaussian, options)
            for name, b in budgets.items()}
        write_json(out, report)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
