"""The plan's phase 1 (1.1-1.3): its candidate configs per symbol, scored against the baseline.

Each candidate is judged on each split by its gain over the symbol's baseline config,
1 - MAE(candidate) / MAE(baseline), against the plan's claimed range: held, consistent but
unproven, refuted or reversed (`evaluation.claims`), from its Diebold-Mariano p-value and
block-bootstrap interval.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cryptocast.config import BaselineSpec, EvalConfig, from_mapping
from cryptocast.data.splits import SPLITS, Splits
from cryptocast.data.store import load_series, read_splits
from cryptocast.evaluation.claims import judge_claim
from cryptocast.evaluation.evaluate import evaluate_symbol, metrics_for_dvc
from cryptocast.forecast.registry import check_family, family
from cryptocast.tuning.records import Record, read_record


@dataclass(frozen=True)
class PlanCandidates:
    """params.yaml `improved.<SYMBOL>`: the plan item, its expected gain range and configs.

    families: the two checkpoint families the stage loads (dvc deps); repeat one if the
    symbol's configs and baseline use only one.
    """

    plan_item: str
    expected_gain: tuple[float, float]
    configs: dict[str, dict[str, Any]]
    families: tuple[str, str]
    notes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        lo, hi = self.expected_gain
        if not lo <= hi:
            raise ValueError(f"improved: expected_gain [{lo}, {hi}] must be [low, high]")
        unknown = sorted(set(self.notes) - set(self.configs))
        if unknown:
            raise ValueError(f"improved: notes for unknown configs {unknown}")


def plan_candidates(params: Mapping[str, Any], symbol: str) -> PlanCandidates:
    section = (params.get("improved") or {}).get(symbol)
    if section is None:
        raise ValueError(f"params improved.{symbol}: missing")
    return from_mapping(PlanCandidates, section, f"params improved.{symbol}")


def config_path(out_dir: str | Path, symbol: str, name: str) -> Path:
    return Path(out_dir) / f"{symbol}_{name}.json"


def all_plans(params: Mapping[str, Any]) -> dict[str, PlanCandidates]:
    """params.yaml `improved`, per symbol."""
    return {symbol: plan_candidates(params, symbol) for symbol in params.get("improved") or {}}


def write_candidate_files(plans: Mapping[str, PlanCandidates], out_dir: str | Path
                          ) -> list[Path]:
    """hyperparams/crypto_improved/<SYMBOL>_configN.json for every symbol's plan."""
    paths = []
    for symbol, plan in plans.items():
        for name, config in plan.configs.items():
            record = Record(
                symbol=symbol, model=config["model"], config=dict(config),
                plan={"item": plan.plan_item, "expected_gain": list(plan.expected_gain)},
                note=plan.notes.get(name),
            )
            path = config_path(out_dir, symbol, name)
            record.write(path)
            paths.append(path)
    return paths


def read_candidate_files(out_dir: str | Path, symbol: str) -> dict[str, Record]:
    """The symbol's candidate records, by config name (configN)."""
    files = sorted(Path(out_dir).glob(f"{symbol}_config*.json"))
    if not files:
        raise FileNotFoundError(f"{out_dir}: no {symbol}_config*.json; run improved_configs")
    return {f.stem.removeprefix(f"{symbol}_"): read_record(f) for f in files}


def split_errors(forecasts: pd.DataFrame, split: str, name: str) -> np.ndarray:
    """Return errors (forecast - actual return) of candidate `name` on `split`, in window
    order, from a long forecasts frame (`score_results`)."""
    rows = forecasts[(forecasts["split"] == split) & (forecasts["candidate"] == name)]
    if rows.empty:
        raise ValueError(f"no forecasts of {name!r} on {split}")
    return ((rows["forecast_close"] - rows["actual_close"]) / rows["prev_close"]).to_numpy()


def judge(metrics: Mapping[str, Mapping[str, Mapping[str, Any]]], forecasts: pd.DataFrame,
          candidates: list[str], baseline: str, expected: tuple[float, float], cfg: EvalConfig,
          seed: int = 0) -> dict[str, dict[str, dict[str, Any]]]:
    """Per split and candidate: its MAE beside the baseline's and naive's, and the plan's claim
    judged against the baseline (`judge_claim`: gain, its interval, DM p-value, verdict)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for split in SPLITS:
        reference = split_errors(forecasts, split, baseline)
        out[split] = {}
        for name in candidates:
            scores = metrics[split][name]
            out[split][name] = {
                "pct_return_mae": scores["pct_return_mae"],
                "baseline_pct_return_mae": metrics[split][baseline]["pct_return_mae"],
                "naive_pct_return_mae": scores["naive_pct_return_mae"],
                "dm_pvalue_vs_naive": scores["dm_pvalue_vs_naive"],
                **judge_claim(split_errors(forecasts, split, name), reference, expected,
                              horizon=cfg.horizon, n_boot=cfg.n_boot, seed=seed),
            }
    return out


def clipped_share(candles: pd.DataFrame, splits: Splits, split: str, context_length: int,
                  clip: float) -> float:
    """Share of `split`'s windows whose last close, normalised over the window as Kronos
    normalises it, lies beyond +-clip: there the model cannot even see the current level."""
    close = candles["close"].to_numpy(np.float64)
    targets = np.flatnonzero(splits.target_mask(candles["timestamp"], split))
    beyond = []
    for t in targets:
        window = close[max(0, t - context_length) : t]
        z = (window[-1] - window.mean()) / (window.std() + 1e-5)
        beyond.append(abs(z) > clip)
    return float(np.mean(beyond))


def evaluate_plan(symbol: str, plan: PlanCandidates, baseline: BaselineSpec, cfg: EvalConfig,
                  seed: int, configs_dir: str | Path, prepared_dir: str | Path,
                  models_dir: str | Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """Score the symbol's plan candidates beside its baseline config and naive, on both
    splits: the metrics file (judgement per plan candidate, clip shares of the Kronos
    candidates, every candidate's metrics) and the point forecasts."""
    records = read_candidate_files(configs_dir, symbol)
    reference = baseline.reference
    specs = {reference: baseline.config, "naive": {"model": "naive"},
             **{name: record.config for name, record in records.items()}}
    check_family(specs, plan.families, f"params improved.{symbol}")
    metrics, forecasts = evaluate_symbol(prepared_dir, models_dir, symbol, specs, reference,
                                         cfg, seed=seed)
    splits = read_splits(prepared_dir)
    candles = load_series(prepared_dir, splits.interval, symbol)
    clip_share = {}
    for name, spec in specs.items():
        if spec["model"] == "kronos":
            knobs = from_mapping(family("kronos").knobs, {k: v for k, v in spec.items()
                                                          if k not in ("model", "checkpoint")},
                                 f"candidate {name!r}")
            clip_share[name] = {split: clipped_share(candles, splits, split, knobs.reads,
                                                     knobs.clip) for split in SPLITS}
    doc = {
        "plan_item": plan.plan_item,
        "baseline": reference,
        "judged": judge(metrics, forecasts, list(records), reference,
                        tuple(plan.expected_gain), cfg, seed),
        "kronos_last_close_beyond_clip_share": clip_share,
        "candidates": metrics_for_dvc(metrics),
    }
    return doc, forecasts
