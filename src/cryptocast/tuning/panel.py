"""The panel: every symbol with enough history scored on the same validation and test dates,
each candidate applied to all of them (the plan's configurations as treatments, the family
defaults, naive and naive_gaussian), and the results pooled (`evaluation.panel`).

Each symbol's forecasts are kept with a fingerprint of everything they depend on, so adding a
symbol (or changing one symbol's data) scores only that symbol again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cryptocast.code import closure_sha256
from cryptocast.config import EvalConfig, from_mapping
from cryptocast.data.schema import INTERVALS
from cryptocast.data.splits import SPLITS, Splits
from cryptocast.data.store import load_series, read_manifest
from cryptocast.evaluation.evaluate import backtest_candidates, score_results
from cryptocast.evaluation.panel import pooled_claim, pooled_comparison
from cryptocast.forecast.registry import FAMILIES, build_forecaster, checkpoint_folder
from cryptocast.io import read_json, sha256_of, write_atomic, write_json

BENCHMARKS = ("naive", "naive_gaussian")  # the references of MAE and CRPS
LOSS_COLUMNS = {"mae": "abs_error", "crps": "crps"}  # objective -> its column in the losses


@dataclass(frozen=True)
class PlanTreatment:
    """A plan item on the panel: its control configuration, the treatments, the claimed gain."""

    control: str
    treatments: list[str]
    claimed: tuple[float, float]


@dataclass(frozen=True)
class PanelSettings:
    """params.yaml `panel` (the family defaults join the candidates as `<family>_default`, the
    panel sweep's winners as `panel_sweep_<family>`)."""

    symbols: str | list[str]  # "all": every prepared symbol (or the listed ones)
    intervals: list[str]  # candle intervals, eval.interval among them, the same dates on each
    min_history: int  # candles (of each interval) before the validation start a symbol needs
    latency_repeats: int  # single-context forecasts timed per candidate, symbol and split
    objective: str  # the loss of the plan's verdicts: mae | crps
    candidates: dict[str, dict[str, Any]]
    plan: dict[str, PlanTreatment]

    def __post_init__(self) -> None:
        if self.objective not in LOSS_COLUMNS:
            raise ValueError(f"params panel.objective must be one of {list(LOSS_COLUMNS)}, "
                             f"got {self.objective!r}")
        if self.symbols != "all" and not isinstance(self.symbols, list):
            raise ValueError(f"params panel.symbols must be all or a list, got {self.symbols!r}")
        if self.latency_repeats < 0:
            raise ValueError(f"params panel.latency_repeats must be >= 0, got "
                             f"{self.latency_repeats}")
        unknown = [i for i in self.intervals if i not in INTERVALS]
        if not self.intervals or unknown:
            raise ValueError(f"params panel.intervals: a list of {list(INTERVALS)}, got "
                             f"{self.intervals!r}")
        missing = sorted(set(BENCHMARKS) - set(self.candidates))
        if missing:
            raise ValueError(f"params panel.candidates: the benchmarks {missing} are missing")

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> PanelSettings:
        section = dict(params.get("panel") or {})
        plan = {item: from_mapping(PlanTreatment, spec, f"params panel.plan.{item}")
                for item, spec in (section.get("plan") or {}).items()}
        settings = from_mapping(cls, {**section, "plan": plan}, "params panel")
        interval = (params.get("eval") or {}).get("interval")
        if interval not in settings.intervals:
            raise ValueError(f"params panel.intervals {settings.intervals} must include "
                             f"eval.interval {interval!r} (the panel that select uses)")
        swept = ((params.get("sweep") or {}).get("panel") or {}).get("families", [])
        names = (set(settings.candidates) | {f"{f}_default" for f in FAMILIES}
                 | {f"panel_sweep_{f}" for f in swept})
        for item, treatment in plan.items():
            unknown = sorted({treatment.control, *treatment.treatments} - names)
            if unknown:
                raise ValueError(f"params panel.plan.{item}: unknown candidates {unknown}")
        return settings


def splits_at(splits: Splits, interval: str) -> Splits:
    """`splits`' validation and test dates on candles of `interval` (no coarser than theirs):
    the test split ends with the last such candle inside the last evaluation candle, so 120
    daily windows are 720 four-hourly ones."""
    step, own = INTERVALS[interval], INTERVALS[splits.interval]
    if step > own or own % step:
        raise ValueError(f"params panel.intervals: {interval} candles do not divide the "
                         f"evaluation interval {splits.interval}")
    return Splits(interval, splits.val_start, splits.test_start, splits.end + own - step)


def panel_symbols(prepared_dir: str | Path, splits: Splits, settings: PanelSettings
                  ) -> tuple[list[str], dict[str, str]]:
    """The panel's symbols (every prepared symbol, or the listed ones) that have candles at
    `splits.interval`, `min_history` of them before the validation start and candles up to
    the end of the test split; and every other one with the reason it is left out."""
    manifest = read_manifest(prepared_dir)
    available = sorted(s["symbol"] for s in manifest["series"] if s["interval"] == splits.interval)
    prepared = sorted({s["symbol"] for s in manifest["series"]})  # at any interval
    wanted = prepared if settings.symbols == "all" else list(settings.symbols)
    included, excluded = [], {}
    for symbol in wanted:
        if symbol not in available:
            excluded[symbol] = f"no prepared {splits.interval} candles"
            continue
        stamps = load_series(prepared_dir, splits.interval, symbol)["timestamp"]
        history = int((stamps < splits.val_start).sum())
        if history < settings.min_history:
            excluded[symbol] = (f"{history} candles before the validation start, fewer than "
                                f"panel.min_history {settings.min_history}")
        elif stamps.max() < splits.end:
            excluded[symbol] = f"candles end at {stamps.max().date()}, before the test end"
        else:
            included.append(symbol)
    return included, excluded


def score_symbol(symbol: str, specs: Mapping[str, Mapping[str, Any]], cfg: EvalConfig,
                 seed: int, prepared_dir: str | Path, models_dir: str | Path,
                 splits: Splits) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Every candidate's forecasts per window of both splits (`point_frame` with abs_error,
    the absolute return error) and its metric blocks per split (`score_results`, against
    naive)."""
    candles = load_series(prepared_dir, splits.interval, symbol)
    forecasters = {name: build_forecaster(name, spec, models_dir, seed)
                   for name, spec in specs.items()}
    results = backtest_candidates(candles, symbol, splits, forecasters, cfg)
    metrics, frame = score_results(results, "naive", cfg, splits.interval, seed)
    frame["abs_error"] = np.abs(frame["forecast_close"] / frame["prev_close"] - 1
                                - (frame["actual_close"] / frame["prev_close"] - 1))
    return frame, metrics


def fingerprint(symbol: str, specs: Mapping[str, Mapping[str, Any]], cfg: EvalConfig,
                seed: int, prepared_dir: str | Path, models_dir: str | Path, splits: Splits
                ) -> str:
    """What a symbol's panel forecasts depend on: its candles, the candidates, the checkpoints
    they run on, the evaluation settings, seed, split dates and the code."""
    folders = sorted({str(checkpoint_folder(s, models_dir)) for s in specs.values()
                      if checkpoint_folder(s, models_dir)})
    families = sorted({s["model"] for s in specs.values() if s["model"] in FAMILIES})
    text = json.dumps({"symbol": symbol, "specs": specs, "eval": asdict(cfg), "seed": seed,
                       "splits": splits.to_dict(),
                       "data": sha256_of([Path(prepared_dir) / splits.interval /
                                          f"{symbol}.parquet"]),
                       "checkpoints": sha256_of([Path(f) for f in folders]),
                       "code": closure_sha256(__name__, families)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def symbol_losses(symbol: str, specs, cfg: EvalConfig, seed: int, prepared_dir, models_dir,
                  splits: Splits, out_dir: str | Path) -> pd.DataFrame:
    """The symbol's forecasts (`score_symbol`), from `out_dir/<SYMBOL>.parquet` when the
    fingerprint in `out_dir/<SYMBOL>.json` matches, else scored now and kept there with the
    metric blocks (`symbol_metrics`)."""
    path, stamp = forecasts_path(out_dir, symbol), Path(out_dir) / f"{symbol}.json"
    key = fingerprint(symbol, specs, cfg, seed, prepared_dir, models_dir, splits)
    if path.exists() and stamp.exists() and read_json(stamp).get("fingerprint") == key:
        return pd.read_parquet(path)
    frame, metrics = score_symbol(symbol, specs, cfg, seed, prepared_dir, models_dir, splits)
    write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))
    write_json(stamp, {"fingerprint": key, "metrics": metrics})
    return frame


def forecasts_path(out_dir: str | Path, symbol: str) -> Path:
    """Where `symbol_losses` keeps a symbol's forecasts."""
    return Path(out_dir) / f"{symbol}.parquet"


def symbol_metrics(out_dir: str | Path, symbol: str) -> dict[str, Any] | None:
    """A panel symbol's metric blocks {split: {candidate: block}}, None when it is not in the
    panel."""
    stamp = Path(out_dir) / f"{symbol}.json"
    return read_json(stamp)["metrics"] if stamp.exists() else None


def _matrix(frames: Mapping[str, pd.DataFrame], split: str, name: str, column: str
            ) -> np.ndarray:
    """[windows, symbols] of one candidate's loss on one split (windows in time order)."""
    columns = []
    for frame in frames.values():
        rows = frame[(frame["split"] == split) & (frame["candidate"] == name)]
        columns.append(rows.sort_values("timestamp")[column].to_numpy())
    return np.column_stack(columns)


def pool(frames: Mapping[str, pd.DataFrame], settings: PanelSettings, candidates: list[str],
         cfg: EvalConfig, seed: int) -> dict[str, Any]:
    """The panel's results per split: a leaderboard (each candidate's pooled MAE against naive
    and CRPS against naive_gaussian), each candidate's skill per symbol, and the plan's
    verdicts (each treatment against its control on `settings.objective`, named in
    `objective`)."""
    options = {"horizon": cfg.horizon, "n_boot": cfg.n_boot, "seed": seed}
    out: dict[str, Any] = {}
    for split in SPLITS:
        naive = _matrix(frames, split, "naive", "abs_error")
        gaussian = _matrix(frames, split, "naive_gaussian", "crps")
        board, skill = {}, {}
        for name in candidates:
            errors = _matrix(frames, split, name, "abs_error")
            crps = _matrix(frames, split, name, "crps")
            board[name] = {
                "mae": pooled_comparison(errors, naive, **options).to_dict(),
                "crps": (None if np.isnan(crps).any() else
                         pooled_comparison(crps, gaussian, **options).to_dict()),
            }
            skill[name] = dict(zip(frames, 1 - errors.mean(0) / naive.mean(0), strict=True))
        plan = {item: {t: pooled_claim(_plan_losses(frames, split, t, settings),
                                       _plan_losses(frames, split, p.control, settings),
                                       tuple(p.claimed), **options)
                       for t in p.treatments}
                for item, p in settings.plan.items()}
        out[split] = {"leaderboard": board, "skill_vs_naive": skill, "plan": plan}
    return {"objective": settings.objective, **out}


def _plan_losses(frames: Mapping[str, pd.DataFrame], split: str, name: str,
                 settings: PanelSettings) -> np.ndarray:
    losses = _matrix(frames, split, name, LOSS_COLUMNS[settings.objective])
    if np.isnan(losses).any():
        raise ValueError(f"params panel.objective {settings.objective}: candidate {name} of "
                         "panel.plan has no distribution")
    return losses
