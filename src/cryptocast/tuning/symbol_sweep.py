"""One symbol's sweep end to end: pools, the study, and the winners scored for real.

The study scores validation windows only, from the Toto pool and the Kronos cache. Its best
config per family is then run as a real forecaster on both splits (the test split is scored
for these winners only), beside the symbol's baseline config and naive, and timed per config.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from cryptocast.config import EvalConfig
from cryptocast.data.prepared import load_series, read_splits, series_path
from cryptocast.data.splits import Splits
from cryptocast.evaluation.evaluate import (
    Results,
    backtest_candidates,
    metrics_for_dvc,
    score_results,
)
from cryptocast.forecast.registry import build_forecaster
from cryptocast.tuning.kronos_cache import KronosCache
from cryptocast.tuning.pools import (
    POOL_FILE,
    SplitWindows,
    TotoPool,
    load_toto_pool,
    validation_windows,
    write_npz,
)
from cryptocast.tuning.records import Record, provenance_block, sha256_of, windows_block
from cryptocast.tuning.sweep import (
    SweepSettings,
    best_by_family,
    budget_trials,
    grid,
    history,
    make_objective,
    open_study,
    run_study,
    sweep_settings,
)


def error_sources(settings: SweepSettings, windows: SplitWindows, pools_dir: str | Path,
                  models_dir: str | Path, seed: int):
    """errors(config, order) for the objective: Toto from the pool, Kronos from the cache."""
    sources = {}
    if "toto" in settings.families:
        pool: TotoPool = load_toto_pool(Path(pools_dir) / POOL_FILE, windows)

        def toto(config: dict, order: np.ndarray):
            errors = pool.score(config["num_samples"], config["aggregate"],
                                config["context_length"])
            return ((int(i), float(errors[i])) for i in order)

        sources["toto"] = toto
    if "kronos" in settings.families:
        cache = KronosCache(build_forecaster("kronos", {"model": "kronos"}, models_dir, seed),
                            windows)
        sources["kronos"] = lambda config, order: cache.errors(config, order)
    return lambda config, order: sources[config["model"]](config, order)


# The code that turns a config into a trial value: a change starts a new study.
TRIAL_CODE = ("cryptocast.forecast.aggregation", "cryptocast.models.kronos.sampling",
              "cryptocast.tuning.kronos_cache", "cryptocast.tuning.pools",
              "cryptocast.tuning.sweep")


def study_fingerprint(settings: SweepSettings, symbol: str, params: dict,
                      prepared_dir: str | Path, models_dir: str | Path, pools_dir: str | Path,
                      splits: Splits) -> str:
    """What defines a study besides its settings: the symbol, checkpoints, data, pool, split
    dates, seed and the code that scores a trial."""
    checkpoints = {f: sha256_of([Path(models_dir) / f]) for f in settings.families}
    data = sha256_of([series_path(prepared_dir, splits.interval, symbol)])
    pool = sha256_of([Path(pools_dir)]) if "toto" in settings.families else None
    code = sha256_of([Path(importlib.import_module(m).__file__) for m in TRIAL_CODE])
    return settings.fingerprint({"symbol": symbol, "checkpoints": checkpoints, "data": data,
                                 "pool": pool, "code": code, "seed": params["seed"],
                                 "splits": splits.to_dict()})


def open_symbol_study(params: dict, symbol: str, prepared_dir: str | Path,
                      models_dir: str | Path, pools_dir: str | Path,
                      storage: optuna.storages.BaseStorage | str | None = None):
    """(study, objective, settings) for `symbol`, ready for `run_study` (also by workers)."""
    settings = sweep_settings(params, symbol)
    windows, splits = validation_windows(params, symbol, prepared_dir, settings)
    configs = grid(settings)
    fingerprint = study_fingerprint(settings, symbol, params, prepared_dir, models_dir,
                                    pools_dir, splits)
    name = f"sweep-{symbol}-{fingerprint}"
    study = open_study(settings, name, configs, storage)
    study.set_user_attr("symbol", symbol)
    errors = error_sources(settings, windows, pools_dir, models_dir, int(params["seed"]))
    return study, make_objective(settings, errors, len(windows.contexts), configs), settings


def score_winners(params: dict, symbol: str, winners: dict[str, dict], prepared_dir: str | Path,
                  models_dir: str | Path, baseline_models_dir: str | Path = "models"
                  ) -> tuple[Results, dict, Splits]:
    """Backtest the winners (real forecasters on the checkpoints in `models_dir`), the baseline
    config (on `baseline_models_dir`) and naive on both splits, scored against the baseline."""
    cfg = EvalConfig.from_params(params)
    splits = read_splits(prepared_dir)
    candles = load_series(prepared_dir, splits.interval, symbol)
    baseline = params["baseline"][symbol]
    seed = int(params["seed"])
    forecasters = {
        "baseline": build_forecaster("baseline", baseline["candidates"][baseline["reference"]],
                                     baseline_models_dir, seed),
        "naive": build_forecaster("naive", {"model": "naive"}, baseline_models_dir, seed),
        **{f"sweep_{family}": build_forecaster(f"sweep_{family}", config, models_dir, seed)
           for family, config in winners.items()},
    }
    results = backtest_candidates(candles, symbol, splits, forecasters, cfg)
    metrics, _ = score_results(results, "baseline", cfg, splits.interval, seed)
    return results, metrics, splits


def save_samples(path: str | Path, results: Results, names: list[str]) -> None:
    """The named candidates' sample closes and points per split (for the ensemble stage)."""
    arrays = {}
    for split, by_name in results.items():
        first = by_name[names[0]]
        arrays[f"{split}/timestamps"] = first.timestamps.astype("int64")
        arrays[f"{split}/prev_close"] = first.prev_close
        arrays[f"{split}/actual_close"] = first.actual_close
        for name in names:
            result = by_name[name]
            arrays[f"{split}/{name}/point"] = result.point
            arrays[f"{split}/{name}/samples"] = result.samples.astype(np.float32)
            arrays[f"{split}/{name}/latency_batched"] = result.latency_s_per_forecast_batched
            arrays[f"{split}/{name}/latency_single"] = result.latency_s_single
    write_npz(path, arrays)


def sweep_symbol(params: dict, symbol: str, prepared_dir: str | Path, models_dir: str | Path,
                 pools_dir: str | Path, baseline_models_dir: str | Path = "models"
                 ) -> dict[str, Any]:
    """Run (or continue) the symbol's study on the checkpoints in `models_dir`, then score its
    winners for real. Returns the winner's record, the metrics document, the trial history and
    the scored results. Winners on other checkpoints than the baseline's (the re-sweep on the
    fine-tuned ones) carry `checkpoint_dir` in their config."""
    study, objective, settings = open_symbol_study(params, symbol, prepared_dir, models_dir,
                                                   pools_dir)
    started = time.perf_counter()
    run_study(study, objective, settings.n_trials)
    seconds = time.perf_counter() - started
    trials = budget_trials(study, settings.n_trials)
    best = best_by_family(trials)
    if not best:
        raise ValueError(f"sweep {symbol}: no complete trial in study {study.study_name}")
    winners = {family: trial.user_attrs["config"] for family, trial in best.items()}
    results, metrics, splits = score_winners(params, symbol, winners, prepared_dir, models_dir,
                                             baseline_models_dir)
    if Path(models_dir) != Path(baseline_models_dir):
        winners = {f: {**c, "checkpoint_dir": str(models_dir)} for f, c in winners.items()}
    names = [f"sweep_{family}" for family in winners]
    validation = {n: metrics["validation"][n]["pct_return_mae"] for n in names}
    chosen = min(validation, key=validation.get)
    config = winners[chosen.removeprefix("sweep_")]
    record = Record(
        symbol=symbol, model=config["model"], config=config,
        validation=metrics["validation"][chosen], test=metrics["test"][chosen],
        windows=windows_block(splits, 1, {s: metrics[s][chosen]["n"] for s in metrics}),
        provenance=provenance_block(config["model"], models_dir, prepared_dir, symbol, splits),
        selection={"metric": "validation pct_return_mae", "candidates": validation,
                   "chosen": chosen},
    )
    states = [t.state for t in trials]
    doc = {
        "study": study.study_name,
        "method": settings.method,
        "trials_complete": states.count(optuna.trial.TrialState.COMPLETE),
        "trials_pruned": states.count(optuna.trial.TrialState.PRUNED),
        "sweep_seconds_this_run": seconds,
        "best_validation_from_pool": {f: t.value for f, t in best.items()},
        "winners": winners,
        "candidates": metrics_for_dvc(metrics),
    }
    return {"record": record, "metrics": doc, "history": history(trials), "results": results,
            "names": names}
