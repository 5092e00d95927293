"""A sweep end to end for one symbol: the study run (or resumed), its winners scored for real on
both splits beside the baseline config and naive, and every output written.

The test split is scored for the winners only (the best complete trial per family); the
trials themselves see validation windows only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from cryptocast import layout
from cryptocast.data.splits import Splits
from cryptocast.data.store import load_series, read_splits
from cryptocast.evaluation.evaluate import (
    Results,
    backtest_candidates,
    metrics_for_dvc,
    score_results,
)
from cryptocast.forecast.registry import build_forecaster, checkpoint_folder
from cryptocast.io import write_atomic, write_json
from cryptocast.tuning.pools import write_npz
from cryptocast.tuning.records import Record, provenance_block, windows_block
from cryptocast.tuning.sweep import (
    HISTORY_COLUMNS,
    OBJECTIVES,
    SweepJob,
    best_by_family,
    budget_trials,
    family_of,
    history,
    run_study,
)
from cryptocast.tuning.symbol_sweep import Checkpoints, open_symbol_study, trial_losses


@dataclass(frozen=True)
class WinnerScores:
    """The winners' backtests by split and name, their metrics, their point forecasts (long
    frame) and the splits."""

    results: Results
    metrics: dict[str, Any]
    forecasts: pd.DataFrame
    splits: Splits


def score_winners(job: SweepJob, winners: dict[str, dict], prepared_dir: str | Path,
                  baseline_models_dir: str | Path = layout.MODELS) -> WinnerScores:
    """Backtest the winners (on the checkpoints their configs name), the baseline config (on
    `baseline_models_dir`) and naive on both splits, scored against the baseline."""
    splits = read_splits(prepared_dir)
    candles = load_series(prepared_dir, splits.interval, job.symbol)
    specs = {"baseline": job.baseline.config, "naive": {"model": "naive"},
             **{f"sweep_{family}": config for family, config in winners.items()}}
    forecasters = {name: build_forecaster(name, spec, baseline_models_dir, job.seed)
                   for name, spec in specs.items()}
    results = backtest_candidates(candles, job.symbol, splits, forecasters, job.eval)
    metrics, forecasts = score_results(results, "baseline", job.eval, splits.interval,
                                       job.seed)
    return WinnerScores(results, metrics, forecasts, splits)


def save_samples(path: str | Path, results: Results, names: list[str]) -> None:
    """The named candidates' sample closes and points per split (for the ensemble stage).
    Nothing measured (latencies) goes in: the bytes depend on the forecasts only."""
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
    write_npz(path, arrays)


@dataclass(frozen=True)
class SweepOutcome:
    """What `sweep_symbol` produces: the winner's record, the metrics document, the trial
    history rows, the winners' backtests (by split and name), their point forecasts (long
    frame) and every trial's validation losses (`trial_losses`)."""

    record: Record
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    results: Results
    names: list[str]
    forecasts: pd.DataFrame
    trial_losses: pd.DataFrame


def sweep_symbol(job: SweepJob, prepared_dir: str | Path, checkpoints: Checkpoints,
                 pools_dir: str | Path, baseline_models_dir: str | Path = layout.MODELS
                 ) -> SweepOutcome:
    """Run (or continue) the job's study on `checkpoints`, then score its winners for real.
    Winners on other checkpoints than the baseline's (the re-sweep on fine-tuned ones) name
    their `checkpoint`."""
    symbol = job.symbol
    opened = open_symbol_study(job, prepared_dir, checkpoints, pools_dir)
    study, settings = opened.study, opened.settings
    started = time.perf_counter()
    run_study(study, opened.objective, settings.n_trials)
    seconds = time.perf_counter() - started
    trials = budget_trials(study, settings.n_trials)
    best = best_by_family(trials)
    if not best:
        raise ValueError(f"sweep {symbol}: no complete trial in study {study.study_name}")
    winners = {}
    for family, trial in best.items():
        config = dict(trial.user_attrs["config"])
        if Path(checkpoints[family]) != Path(baseline_models_dir) / family:
            config["checkpoint"] = str(checkpoints[family])
        winners[family] = config
    scores = score_winners(job, winners, prepared_dir, baseline_models_dir)
    scored, splits = scores.metrics, scores.splits
    names = [f"sweep_{family}" for family in winners]
    metric = OBJECTIVES[settings.objective]
    validation = {n: scored["validation"][n][metric] for n in names}
    chosen = min(validation, key=validation.get)
    config = winners[chosen.removeprefix("sweep_")]
    record = Record(
        symbol=symbol, model=config["model"], config=config,
        validation=scored["validation"][chosen], test=scored["test"][chosen],
        windows=windows_block(splits, 1, {s: scored[s][chosen]["n"] for s in scored}),
        provenance=provenance_block([checkpoint_folder(config, baseline_models_dir)],
                                    prepared_dir, symbol, splits),
        selection={"metric": f"validation {metric}", "candidates": validation,
                   "chosen": chosen},
    )
    states = [t.state for t in trials]
    doc = {
        "study": study.study_name,
        "method": settings.method,
        "trials_complete": states.count(optuna.trial.TrialState.COMPLETE),
        "trials_pruned": states.count(optuna.trial.TrialState.PRUNED),
        "trials_by_family": {f: sum(family_of(t) == f for t in trials)
                             for f in settings.families},
        "sweep_seconds_this_run": seconds,
        "best_validation_from_pool": {f: t.value for f, t in best.items()},
        "winners": winners,
        "candidates": metrics_for_dvc(scored),
    }
    return SweepOutcome(record, doc, history(trials), scores.results, names, scores.forecasts,
                        trial_losses(trials, opened.losses, opened.windows))


def write_outcome(outcome: SweepOutcome, stage: str, symbol: str, runtime: dict[str, Any]
                  ) -> None:
    """A sweep's outputs (stage `sweep` or `resweep`): its metrics, the trial history (plots)
    and, in its folder (`layout.sweep_outputs`), forecasts.parquet (the winners' point
    forecasts), trials.parquet (every trial's validation losses) and samples.npz (the
    winners' samples, for the ensembles)."""
    write_json(layout.metrics(stage, symbol), {**outcome.metrics, "runtime": runtime})
    history = pd.DataFrame(outcome.history, columns=HISTORY_COLUMNS)
    write_atomic(layout.plots(stage, symbol), lambda tmp: history.to_csv(tmp, index=False))
    out = layout.sweep_outputs(stage, symbol)
    write_atomic(out / "forecasts.parquet",
                 lambda tmp: outcome.forecasts.to_parquet(tmp, index=False))
    write_atomic(out / "trials.parquet",
                 lambda tmp: outcome.trial_losses.to_parquet(tmp, index=False))
    save_samples(out / "samples.npz", outcome.results, outcome.names)
