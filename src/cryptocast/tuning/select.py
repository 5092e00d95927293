"""Production configs: per symbol, one of every stage's candidates (the finalists, naive
included), chosen on validation behind a gate that counts everything that was tried.

Rule `spa` (the default): Hansen's SPA test, with naive as the benchmark, over every
configuration whose validation losses were looked at: the baseline config, the plan's
candidates, every sweep and re-sweep trial (pruned ones scored on every window), the winners
run for real, every ensemble weight, the base and fine-tuned default forecasters, and the
panel's candidates and every panel sweep trial as scored on the symbol (the panel sweep's
winners are finalists of every symbol in the panel).
Identical forecasts count once. Only when the SPA rejects at `alpha` is a configuration
promoted over the random walk (the finalist with the lowest validation MAE below naive's);
otherwise the choice is the random walk with its Gaussian band (naive_gaussian). Rule `best`
takes the lowest validation MAE whatever its evidence. The Model Confidence Set of the
finalists is reported on both splits.

Selecting on the test split is impossible by construction: the rules receive validation
values only; the test blocks and the test MCS are reported beside the choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cryptocast import layout
from cryptocast.config import (
    BaselineSpec,
    EvalConfig,
    family_defaults,
    from_mapping,
    symbols_from_params,
)
from cryptocast.data.store import read_splits
from cryptocast.evaluation.snooping import confidence_set, distinct, spa_test
from cryptocast.evaluation.stats import loss_dm
from cryptocast.forecast.registry import FAMILIES, checkpoint_folder
from cryptocast.io import read_json
from cryptocast.tuning.improved import read_candidate_files
from cryptocast.tuning.panel import forecasts_path, symbol_metrics
from cryptocast.tuning.records import Record, provenance_block, windows_block

METRIC = "pct_return_mae"
RULES = ("spa", "best")
# The random walk's point forecast (naive_gaussian adds a band): the benchmark, never promoted.
NAIVE = ("naive", "naive_gaussian")
FALLBACK = "naive_gaussian"
OBJECTIVES = ("point", "risk")
RISK_BASELINES = ("ewma", "garch")  # the volatility baselines: naive's point, their own band


@dataclass(frozen=True)
class SelectParams:
    """params.yaml `select`."""

    objectives: list[str]  # point (MAE against naive), risk (CRPS against naive_gaussian)
    rule: str
    alpha: float  # the SPA's level
    mcs_size: float  # the Model Confidence Set holds the best with probability 1 - size
    reps: int  # bootstrap resamples of the SPA and the MCS
    block_length: int | None  # stationary bootstrap mean block (None: n ** (1/3))

    def __post_init__(self) -> None:
        if "point" not in self.objectives or not set(self.objectives) <= set(OBJECTIVES):
            raise ValueError(f"params select.objectives: point and optionally risk, got "
                             f"{self.objectives!r}")
        if self.rule not in RULES:
            raise ValueError(f"params select.rule must be one of {list(RULES)}, got "
                             f"{self.rule!r}")
        for name in ("alpha", "mcs_size"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"params select.{name} must be in (0, 1), got "
                                 f"{getattr(self, name)!r}")
        if self.reps < 100:
            raise ValueError(f"params select.reps must be >= 100, got {self.reps!r}")

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> SelectParams:
        return from_mapping(cls, params.get("select"), "params select")


@dataclass(frozen=True)
class Candidate:
    """A finalist: where it comes from, its knobs, its metric blocks, and per split in window
    order its return errors ((forecast - actual) / last close) and CRPS (NaN for a point
    forecast; both empty when not loaded)."""

    name: str
    stage: str
    config: dict[str, Any]
    validation: dict[str, Any]
    test: dict[str, Any]
    errors: dict[str, np.ndarray] = field(default_factory=dict, compare=False)
    crps: dict[str, np.ndarray] = field(default_factory=dict, compare=False)


def read_errors(path: str | Path, column: str = "error") -> dict[str, dict[str, np.ndarray]]:
    """Per split and candidate, from a forecasts file (`point_frame`): the return errors, or
    another column (`crps`)."""
    frame = pd.read_parquet(path).sort_values(["split", "candidate", "timestamp"], kind="stable")
    frame["error"] = (frame["forecast_close"] - frame["actual_close"]) / frame["prev_close"]
    return {split: {name: rows[column].to_numpy() for name, rows in by_split.groupby(
        "candidate", sort=False)} for split, by_split in frame.groupby("split", sort=False)}


def _finalists(stage: str, names: Mapping[str, str], metrics: Mapping[str, Any],
               configs: Mapping[str, dict], path: Path | None) -> list[Candidate]:
    """Candidates of one stage: finalist name -> its name in the stage's metrics and in its
    forecasts file `path` (errors and CRPS loaded when given)."""
    errors = read_errors(path) if path else {}
    crps = read_errors(path, "crps") if path else {}
    return [Candidate(final, stage, dict(configs[final]), metrics["validation"][inner],
                      metrics["test"][inner], {s: errors[s][inner] for s in errors},
                      {s: crps[s][inner] for s in crps})
            for final, inner in names.items()]


def gather(symbol: str, baseline_spec: BaselineSpec, defaults: Mapping[str, Mapping[str, Any]],
           root: str | Path = ".", with_errors: bool = True) -> list[Candidate]:
    """Every stage's finalists for `symbol` from the pipeline's files under `root`, in stage
    order: naive and the baseline config, the plan's candidates, the sweep winners, the base
    and fine-tuned default forecasters (`defaults`: each family's knobs), the re-sweep winners
    (when it searched), the ensembles and the panel sweep's winners as scored on `symbol` by the
    panel; with their errors unless `with_errors` is False."""
    root = Path(root)

    def errors(path: Path):
        return root / path if with_errors else None

    ref = baseline_spec.reference
    baseline = read_json(root / layout.metrics("baseline", symbol))
    names = ({n: n for n in NAIVE if n in baseline["validation"]} | {f"baseline_{ref}": ref}
             | {n: n for n in RISK_BASELINES if n in baseline["validation"]})
    configs = {n: baseline_spec.candidates.get(inner, {"model": inner})
               for n, inner in names.items()}
    found = _finalists("baseline", names, baseline, configs,
                       errors(layout.point_forecasts("baseline", symbol)))
    improved = read_json(root / layout.metrics("improved", symbol))["candidates"]
    records = read_candidate_files(root / layout.IMPROVED_CONFIGS, symbol)
    found += _finalists("improved", {f"improved_{n}": n for n in records}, improved,
                        {f"improved_{n}": r.config for n, r in records.items()},
                        errors(layout.point_forecasts("improved", symbol)))
    found += _sweep_finalists("sweep", symbol, root, errors)
    for family in FAMILIES:
        path = root / layout.metrics("finetune", family)
        if not path.exists():
            continue
        doc = read_json(path)
        knobs = {"model": family, **defaults[family]}
        configs = {f"default_{family}": knobs,
                   f"finetuned_{family}": {**knobs, "checkpoint": doc["checkpoints"][symbol]}}
        found += _finalists("finetune", dict(zip(configs, ("base", "finetuned"), strict=True)),
                            doc["symbols"][symbol], configs,
                            errors(layout.finetune_forecasts(family, symbol)))
    found += _sweep_finalists("resweep", symbol, root, errors)
    ensemble = read_json(root / layout.metrics("ensemble", symbol))
    configs = {f"ensemble_{kind}": {"model": "ensemble", "kind": kind, "weight": c["weight"],
                                    "members": ensemble["members"]}
               for kind, c in ensemble["weights"].items()}
    found += _finalists("ensemble", {n: n for n in configs}, ensemble["candidates"], configs,
                        errors(layout.point_forecasts("ensemble", symbol)))
    return found + _panel_sweep_finalists(symbol, root, errors)


def _panel_sweep_finalists(symbol: str, root: Path, errors) -> list[Candidate]:
    """The panel sweep's winners as scored on `symbol` by the panel (none when the symbol is
    not in the panel)."""
    metrics = symbol_metrics(root / layout.PANEL_FORECASTS, symbol)
    if metrics is None:
        return []
    configs = {f"panel_sweep_{path.stem}": read_json(path)
               for path in sorted((root / layout.PANEL_SWEEP).glob("*.json"))}
    return _finalists("panel_sweep", {n: n for n in configs}, metrics, configs,
                      errors(forecasts_path(layout.PANEL_FORECASTS, symbol)))


def _sweep_finalists(stage: str, symbol: str, root: Path, errors) -> list[Candidate]:
    path = root / layout.metrics(stage, symbol)
    doc = read_json(path) if path.exists() else {"winners": {}}
    if not doc["winners"]:
        return []
    names = {f"{stage}_{family}": f"sweep_{family}" for family in doc["winners"]}
    configs = {f"{stage}_{family}": c for family, c in doc["winners"].items()}
    return _finalists(stage, names, doc["candidates"], configs,
                      errors(layout.sweep_outputs(stage, symbol) / "forecasts.parquet"))


def drop_duplicates(candidates: list[Candidate]) -> tuple[list[Candidate], dict[str, str]]:
    """The candidates with identical forecasts (the same errors and CRPS on both splits)
    listed once, the first kept; and every dropped name -> the kept one. naive_gaussian is
    naive's point with a band, and both stay (naive is the benchmark, naive_gaussian the
    fallback)."""
    errors = {c.name: np.nan_to_num(np.concatenate(
        [c.errors[s] for s in sorted(c.errors)] + [c.crps[s] for s in sorted(c.crps)]),
        nan=-1.0) for c in candidates if c.name not in NAIVE}
    _, same_as = distinct(errors)
    return [c for c in candidates if c.name not in same_as], same_as


def tried_losses(symbol: str, root: str | Path = ".", loss: str = "mae"
                 ) -> dict[str, np.ndarray]:
    """Every configuration whose validation losses were looked at, by `<stage>:<candidate>`:
    every candidate of every stage's forecasts (the panel's included), every sweep and
    re-sweep trial, and every panel sweep trial as scored on `symbol` (their MAE only: the
    panel sweep never computed their CRPS). `loss`: `mae` (absolute return errors) or `crps`
    (forecasts without a distribution left out)."""
    root = Path(root)
    frames = {stage: [layout.point_forecasts(stage, symbol)]
              for stage in ("baseline", "improved", "ensemble")}
    frames["finetune"] = [layout.finetune_forecasts(f, symbol) for f in sorted(FAMILIES)]
    for stage in ("sweep", "resweep"):
        frames[stage] = [layout.sweep_outputs(stage, symbol) / "forecasts.parquet"]
    frames["panel"] = [forecasts_path(layout.PANEL_FORECASTS, symbol)]
    column = {"mae": "error", "crps": "crps"}[loss]
    losses = {}
    for stage, paths in frames.items():
        for path in paths:
            if (root / path).exists():
                for name, values in read_errors(root / path, column).get("validation",
                                                                         {}).items():
                    if not np.isnan(values).any():
                        losses[f"{stage}:{name}"] = np.abs(values)
    for stage in ("sweep", "resweep"):
        path = root / layout.sweep_outputs(stage, symbol) / "trials.parquet"
        if path.exists():
            trials = pd.read_parquet(path).sort_values(["trial", "timestamp"], kind="stable")
            for number, rows in trials.groupby("trial"):
                losses[f"{stage}:trial_{number}"] = rows[loss].to_numpy()
    path = root / layout.PANEL_SWEEP_TRIALS / "trials.parquet"
    if loss == "mae" and path.exists():
        trials = pd.read_parquet(path, filters=[("symbol", "==", symbol)])
        for number, rows in trials.sort_values(["trial", "timestamp"]).groupby("trial"):
            losses[f"panel_sweep:trial_{number}"] = rows["mae"].to_numpy()
    return losses


def select(candidates: list[Candidate], tried: Mapping[str, np.ndarray],
           params: SelectParams, seed: int = 0
           ) -> tuple[Candidate, dict[str, Any]]:
    """The chosen finalist and the selection table: every finalist's validation value, the
    SPA over `tried` (p-value, configurations covered, the best), the MCS of the finalists on
    each split, the rule and the choice. Validation decides; test is only reported."""
    by_name = {c.name: c for c in candidates}
    if not set(NAIVE) <= set(by_name):
        raise ValueError(f"select: {list(NAIVE)} must be among the candidates "
                         "(params baseline.<SYMBOL>.candidates)")
    validation = {c.name: c.validation[METRIC] for c in candidates}
    naive = np.abs(by_name["naive"].errors["validation"])
    spa = spa_test(naive, tried, reps=params.reps, block_length=params.block_length, seed=seed)
    table: dict[str, Any] = {"rule": params.rule, "alpha": params.alpha,
                             "candidates": validation, "spa_pvalue": spa.pvalue,
                             "spa_pvalue_lower": spa.lower, "spa_pvalue_upper": spa.upper,
                             "spa_configurations": spa.configurations, "spa_best": spa.best}
    for split in ("validation", "test"):
        losses = {c.name: np.abs(c.errors[split]) for c in candidates if c.name != FALLBACK}
        table[f"mcs_{split}"] = confidence_set(losses, size=params.mcs_size, reps=params.reps,
                                               block_length=params.block_length, seed=seed)
    beat = {n: v for n, v in validation.items() if n not in NAIVE and v < validation["naive"]}
    if params.rule == "best":
        chosen = min(validation, key=validation.get)
    elif spa.pvalue < params.alpha and beat:
        chosen = min(beat, key=beat.get)
    else:
        chosen = FALLBACK
    return by_name[chosen], table


def config_checkpoints(config: Mapping[str, Any], models_dir: str | Path) -> list[Path]:
    """The checkpoint folders a config runs on (an ensemble: its members'; naive: none)."""
    specs = config["members"].values() if config["model"] == "ensemble" else [config]
    return [f for f in (checkpoint_folder(s, models_dir) for s in specs) if f is not None]


@dataclass(frozen=True)
class SelectJob:
    """What `select` reads from params, parsed once: each symbol's baseline, each family's
    default forecaster knobs, the gate's settings, the seed and the horizon."""

    baselines: dict[str, BaselineSpec]
    defaults: dict[str, dict[str, Any]]
    gate: SelectParams
    seed: int
    horizon: int

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> SelectJob:
        return cls({s: BaselineSpec.from_params(params, s) for s in symbols_from_params(params)},
                   family_defaults(params), SelectParams.from_params(params),
                   int(params["seed"]), EvalConfig.from_params(params).horizon)


def select_risk(candidates: list[Candidate], tried: Mapping[str, np.ndarray],
                params: SelectParams, seed: int = 0) -> tuple[Candidate, dict[str, Any]]:
    """The risk objective among the finalists with a distribution: the SPA over `tried` (the
    validation CRPS of every distribution looked at, sweep trials included) against
    naive_gaussian's. Rule spa: when it rejects at `alpha`, the finalist with the lowest
    validation CRPS below naive_gaussian's, else naive_gaussian; rule best: the lowest. The
    MCS of the distributions on each split and each one's test CRPS against naive_gaussian
    and garch are reported."""
    sampled = {c.name: c for c in candidates
               if c.crps and not np.isnan(c.crps["validation"]).any()}
    if FALLBACK not in sampled:
        raise ValueError(f"select: the risk objective needs {FALLBACK} among the candidates")
    bench = sampled[FALLBACK].crps["validation"]
    spa = spa_test(bench, tried, reps=params.reps, block_length=params.block_length, seed=seed)
    validation = {n: float(c.crps["validation"].mean()) for n, c in sampled.items()}
    table: dict[str, Any] = {"objective": "risk", "metric": "validation crps",
                             "rule": params.rule, "alpha": params.alpha,
                             "candidates": validation, "spa_pvalue": spa.pvalue,
                             "spa_configurations": spa.configurations, "spa_best": spa.best}
    for split in ("validation", "test"):
        table[f"mcs_{split}"] = confidence_set({n: c.crps[split] for n, c in sampled.items()},
                                               size=params.mcs_size, reps=params.reps,
                                               block_length=params.block_length, seed=seed)
    table["test_vs_benchmarks"] = {
        name: {bench: {"crps_ratio": float(c.crps["test"].mean() / sampled[bench].crps["test"]
                                           .mean()),
                       "dm_pvalue": loss_dm(c.crps["test"], sampled[bench].crps["test"]).pvalue}
               for bench in (FALLBACK, "garch") if bench in sampled and bench != name}
        for name, c in sampled.items()}
    beat = {n: v for n, v in validation.items() if n != FALLBACK and v < validation[FALLBACK]}
    if params.rule == "best":
        chosen = min(validation, key=validation.get)
    else:
        chosen = min(beat, key=beat.get) if spa.pvalue < params.alpha and beat else FALLBACK
    return sampled[chosen], table


def _record(job: SelectJob, symbol: str, root: Path, chosen: Candidate, table: dict,
            same_as: dict) -> Record:
    splits = read_splits(root / layout.PREPARED)
    return Record(
        symbol=symbol, model=chosen.config["model"], config=chosen.config,
        validation=chosen.validation, test=chosen.test,
        windows=windows_block(splits, job.horizon, {"validation": chosen.validation["n"],
                                                    "test": chosen.test["n"]}),
        provenance=provenance_block(
            [root / f for f in config_checkpoints(chosen.config, layout.MODELS)],
            root / layout.PREPARED, symbol, splits),
        selection={**table, "duplicates": same_as, "chosen": chosen.name,
                   "stage": chosen.stage},
    )


def best_record(job: SelectJob, symbol: str, root: str | Path = ".") -> dict[str, Record]:
    """Per objective of `job.gate.objectives`, the chosen candidate with its evidence: point
    (the gate on MAE) for hyperparams/best/<SYMBOL>.json, risk (on CRPS) for
    <SYMBOL>_risk.json; from the pipeline's files under `root`."""
    root = Path(root)
    finalists, same_as = drop_duplicates(gather(symbol, job.baselines[symbol], job.defaults,
                                                root))
    chosen, table = select(finalists, tried_losses(symbol, root), job.gate, job.seed)
    records = {"point": _record(job, symbol, root, chosen,
                                {"objective": "point", "metric": f"validation {METRIC}",
                                 **table}, same_as)}
    if "risk" in job.gate.objectives:
        records["risk"] = _record(job, symbol, root, *select_risk(
            finalists, tried_losses(symbol, root, "crps"), job.gate, job.seed), same_as)
    return records
