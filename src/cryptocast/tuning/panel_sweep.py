"""The panel sweep: one configuration per family tuned on every panel symbol at once.

The objective of a trial is its relative validation MAE over the panel: the geometric mean
over symbols of its MAE / naive's MAE (`evaluation.panel.relative_score`), so each coin
counts once whatever its volatility. Each symbol's Toto trials score from its own sample pool
and its Kronos trials from its own cache, as in the per-symbol sweep. The gate asks the
question the per-symbol gates cannot answer with 120 windows: does any configuration tried
beat the random walk on the panel? Hansen's SPA over every trial's cross-sectional mean of
relative absolute errors per window, against naive's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from tqdm.auto import tqdm

from cryptocast.code import closure_sha256
from cryptocast.config import EvalConfig, from_mapping, merge_params
from cryptocast.data.store import read_splits
from cryptocast.evaluation.panel import relative_score
from cryptocast.evaluation.snooping import spa_test
from cryptocast.io import sha256_of
from cryptocast.tuning.pools import POOL_FILE, build_pool, sweep_windows
from cryptocast.tuning.sweep import (
    SweepSettings,
    best_by_family,
    budget_trials,
    family_of,
    grid,
    history,
    open_study,
    run_study,
    suggest,
)
from cryptocast.tuning.symbol_sweep import loss_sources


def panel_sweep_settings(params: Mapping[str, Any]) -> SweepSettings:
    """params `sweep.defaults` with `sweep.panel` (families, n_trials) over it; no pruning
    (a trial's value is over every symbol at once)."""
    sweep = params.get("sweep") or {}
    merged = merge_params(sweep.get("defaults") or {}, {**(sweep.get("panel") or {}),
                                                        "prune": False})
    return from_mapping(SweepSettings, merged, "params sweep.panel")


@dataclass(frozen=True)
class PanelSweepOutcome:
    """winners: family -> config; trials: one row per (trial, symbol, window) with `mae`;
    history: the trial history rows; metrics: the stage's metrics document."""

    winners: dict[str, dict[str, Any]]
    trials: pd.DataFrame
    history: list[dict[str, Any]]
    metrics: dict[str, Any]


class PanelObjective:
    """A trial's relative validation MAE over the panel, from each symbol's pool and cache;
    every trial's losses are kept for the gate."""

    def __init__(self, settings: SweepSettings, sources: Mapping[str, Any],
                 windows: Mapping[str, Any], configs: list[dict]) -> None:
        self.settings, self.sources, self.windows, self.configs = (settings, sources, windows,
                                                                    configs)
        self.naive = np.column_stack([np.abs(w.actual_return) for w in windows.values()])

    def losses(self, config: dict) -> np.ndarray:
        """[windows, symbols] absolute return errors of `config`."""
        columns = []
        for symbol, source in self.sources.items():
            order = np.arange(len(self.windows[symbol].contexts))
            errors = np.empty(len(order))
            for i, loss in source(config, order):
                errors[i] = loss.mae
            columns.append(errors)
        return np.column_stack(columns)

    def __call__(self, trial: optuna.Trial) -> float:
        config = suggest(trial, self.settings, self.configs)
        trial.set_user_attr("config", config)
        return relative_score(self.losses(config), self.naive)


def study_fingerprint(settings: SweepSettings, symbols: list[str], seed: int,
                      prepared_dir: Path, checkpoints: Mapping[str, Path], interval: str) -> str:
    """What decides a trial's value: the settings, symbols, their data, checkpoints, seed and
    code."""
    text = json.dumps({"symbols": symbols, "seed": seed,
                       "data": sha256_of([prepared_dir / interval / f"{s}.parquet"
                                          for s in symbols]),
                       "checkpoints": {f: sha256_of([Path(p)]) for f, p in checkpoints.items()},
                       "code": closure_sha256(__name__, settings.families)},
                      sort_keys=True, default=str)
    return settings.fingerprint({"panel": hashlib.sha256(text.encode()).hexdigest()})


def run_panel_sweep(settings: SweepSettings, cfg: EvalConfig, seed: int, symbols: list[str],
                    prepared_dir: str | Path, checkpoints: Mapping[str, Path],
                    pools_dir: str | Path, defaults: Mapping[str, Mapping[str, Any]],
                    reps: int) -> PanelSweepOutcome:
    """Build the panel symbols' Toto pools (under `pools_dir`, one folder per study, so a
    pool is never reused for another checkpoint or data), run or resume the study, and gate
    its trials."""
    prepared_dir = Path(prepared_dir)
    interval = read_splits(prepared_dir).interval
    name = "panel-sweep-" + study_fingerprint(settings, symbols, seed, prepared_dir, checkpoints,
                                              interval)
    windows, sources = {}, {}
    for symbol in tqdm(symbols, desc="panel pools", unit="symbol"):
        folder = Path(pools_dir) / name / symbol
        if "toto" in settings.families and not (folder / POOL_FILE).exists():
            build_pool(settings, cfg, seed, symbol, prepared_dir, checkpoints["toto"], folder)
        windows[symbol], _ = sweep_windows(settings, cfg, symbol, prepared_dir)
        sources[symbol] = loss_sources(settings, windows[symbol], folder, checkpoints, seed)
    stamps = [w.timestamps for w in windows.values()]
    if any(not np.array_equal(s, stamps[0]) for s in stamps):
        raise ValueError("panel sweep: the symbols' validation windows are not on the same dates")
    configs = grid(settings)
    study = open_study(settings, name, configs, defaults=defaults)
    objective = PanelObjective(settings, sources, windows, configs)
    run_study(study, objective, settings.n_trials)
    trials = budget_trials(study, settings.n_trials)
    best = best_by_family(trials)
    losses = {t.number: objective.losses(t.user_attrs["config"]) for t in trials}
    relative = {n: (loss / objective.naive.mean(axis=0)).mean(axis=1)
                for n, loss in losses.items()}
    naive = (objective.naive / objective.naive.mean(axis=0)).mean(axis=1)
    spa = spa_test(naive, {f"trial_{n}": v for n, v in relative.items()}, reps=reps, seed=seed)
    frame = pd.concat([pd.DataFrame({"trial": n, "family": family_of(t), "symbol": symbol,
                                     "timestamp": stamps[0], "mae": losses[n][:, k]})
                       for t in trials for n in [t.number]
                       for k, symbol in enumerate(symbols)], ignore_index=True)
    doc = {"study": name, "symbols": symbols, "trials": len(trials),
           "trials_by_family": {f: sum(family_of(t) == f for t in trials)
                                for f in settings.families},
           "validation_relative_mae": {f: t.value for f, t in best.items()},
           "spa_pvalue": spa.pvalue, "spa_configurations": spa.configurations,
           "spa_best": spa.best,
           "winners": {f: t.user_attrs["config"] for f, t in best.items()}}
    return PanelSweepOutcome(doc["winners"], frame, history(trials), doc)
