"""One symbol's study: its error sources (the Toto pool and the Kronos cache), its fingerprint,
and every trial's validation losses.

The study scores validation windows only. Its name carries a fingerprint of everything that
decides a trial's value, so a change of any of it starts a new study instead of reusing old
trial values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import torch

from cryptocast.code import closure_sha256
from cryptocast.data.splits import Splits
from cryptocast.data.store import series_path
from cryptocast.forecast.registry import build_forecaster
from cryptocast.io import sha256_of
from cryptocast.runtime import autocast_enabled, machine
from cryptocast.tuning.kronos_cache import KronosCache, largest_sample_count
from cryptocast.tuning.pools import POOL_FILE, SplitWindows, load_toto_pool, sweep_windows
from cryptocast.tuning.sweep import (
    LossSource,
    SweepJob,
    SweepSettings,
    WindowLosses,
    family_of,
    grid,
    make_objective,
    open_study,
)

# The checkpoint folder of each searched family.
Checkpoints = Mapping[str, Path]


def loss_sources(settings: SweepSettings, windows: SplitWindows, pools_dir: str | Path,
                 checkpoints: Checkpoints, seed: int) -> LossSource:
    """losses(config, order) for the objective: Toto from the pool, Kronos from the cache's
    pools (of the space's largest sample_count)."""
    sources = {}
    if "toto" in settings.families:
        pool = load_toto_pool(Path(pools_dir) / POOL_FILE, windows)

        def toto(config: dict, order: np.ndarray):
            mae, crps = pool.losses(config["num_samples"], config["aggregate"],
                                    config["context_length"])
            return ((int(i), WindowLosses(float(mae[i]), float(crps[i]))) for i in order)

        sources["toto"] = toto
    if "kronos" in settings.families:
        spec = {"model": "kronos", "checkpoint": checkpoints["kronos"]}
        cache = KronosCache(build_forecaster("kronos", spec, seed=seed), windows,
                            largest_sample_count(grid(settings)))
        sources["kronos"] = cache.losses
    return lambda config, order: sources[config["model"]](config, order)


def study_fingerprint(settings: SweepSettings, symbol: str, seed: int, prepared_dir: str | Path,
                      checkpoints: Checkpoints, pools_dir: str | Path, splits: Splits) -> str:
    """What defines a study besides its settings: the symbol, checkpoints, data, pool, split
    dates, seed, every source file this module runs (its import closure, the searched
    families' code included) and the runtime (machine, bf16, threads: results depend on them)."""
    hashes = {f: sha256_of([Path(checkpoints[f])]) for f in settings.families}
    data = sha256_of([series_path(prepared_dir, splits.interval, symbol)])
    pool = sha256_of([Path(pools_dir)]) if "toto" in settings.families else None
    code = closure_sha256(__name__, settings.families)
    runtime = {"machine": machine(), "bf16": autocast_enabled(),
               "threads": torch.get_num_threads()}
    return settings.fingerprint({"symbol": symbol, "checkpoints": hashes, "data": data,
                                 "pool": pool, "code": code, "seed": seed, "runtime": runtime,
                                 "splits": splits.to_dict()})


@dataclass(frozen=True)
class SymbolStudy:
    """A symbol's study, ready for `run_study` (also by workers), with what scores a trial."""

    study: optuna.Study
    objective: Callable[[optuna.Trial], float]
    settings: SweepSettings
    losses: LossSource
    windows: SplitWindows


def open_symbol_study(job: SweepJob, prepared_dir: str | Path, checkpoints: Checkpoints,
                      pools_dir: str | Path,
                      storage: optuna.storages.BaseStorage | str | None = None) -> SymbolStudy:
    """The job's study of the families of `checkpoints` (created, or resumed when it
    exists)."""
    symbol, seed = job.symbol, job.seed
    settings = replace(job.settings, families=list(checkpoints))
    windows, splits = sweep_windows(settings, job.eval, symbol, prepared_dir)
    configs = grid(settings)
    fingerprint = study_fingerprint(settings, symbol, seed, prepared_dir, checkpoints,
                                    pools_dir, splits)
    study = open_study(settings, f"sweep-{symbol}-{fingerprint}", configs, storage,
                       job.defaults)
    study.set_user_attr("symbol", symbol)
    losses = loss_sources(settings, windows, pools_dir, checkpoints, seed)
    objective = make_objective(settings, losses, len(windows.contexts), configs)
    return SymbolStudy(study, objective, settings, losses, windows)


def trial_losses(trials: list[optuna.trial.FrozenTrial], losses: LossSource,
                 windows: SplitWindows) -> pd.DataFrame:
    """Every trial's losses on every validation window: one row per (trial, window) with the
    trial's family and state, `mae` (absolute return error) and `crps`. A pruned trial was
    looked at on part of the windows; it is scored here on all of them, so the selection
    gates count it as a configuration tried."""
    order = np.arange(len(windows.contexts))
    frames = []
    for trial in trials:
        mae, crps = np.empty(len(order)), np.empty(len(order))
        for i, loss in losses(trial.user_attrs["config"], order):
            mae[i], crps[i] = loss
        frames.append(pd.DataFrame({"trial": trial.number, "family": family_of(trial),
                                    "state": trial.state.name.lower(),
                                    "timestamp": windows.timestamps, "mae": mae,
                                    "crps": crps}))
    return pd.concat(frames, ignore_index=True)
