"""`monitor update` and `monitor verify`: forecast every candle not yet in the ledger with the
production configs, from the candles before it only; score every forecast whose candle has
closed; recompute recorded forecasts and compare them bit for bit."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from cryptocast.code import closure_sha256
from cryptocast.data.schema import INTERVALS
from cryptocast.evaluation.metrics import crps_from_samples
from cryptocast.evaluation.risk import pit_values
from cryptocast.forecast.base import OHLCV
from cryptocast.forecast.registry import FAMILIES
from cryptocast.io import sha256_of
from cryptocast.monitor.ledger import CONFIGS, FORECASTS, Ledger
from cryptocast.monitor.settings import BENCHMARK, OBJECTIVES
from cryptocast.runtime import machine
from cryptocast.tuning.production import forecast_next
from cryptocast.tuning.records import Record, read_record
from cryptocast.tuning.select import config_checkpoints

# symbol -> every closed candle known now (timestamp = open time, OHLCV), oldest first
CandleSource = Callable[[str], pd.DataFrame]


def code_version() -> str:
    """The forecasting code's identity: a hash of the production module's import closure."""
    return "closure-" + closure_sha256("cryptocast.tuning.production", FAMILIES)[:16]


def candles_sha(candles: pd.DataFrame) -> str:
    """SHA-256 of the candles' open times and OHLCV values (what a forecast reads)."""
    digest = hashlib.sha256(candles["timestamp"].to_numpy("datetime64[ns]").astype("int64")
                            .tobytes())
    digest.update(np.ascontiguousarray(candles[list(OHLCV)].to_numpy(np.float64)).tobytes())
    return digest.hexdigest()


def config_sha(config: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def production_records(symbol: str, best_dir: str | Path, benchmark: Mapping[str, Any]
                       ) -> dict[str, Record]:
    """The symbol's configs by objective: the production records select wrote (point, and
    risk when selected) and the benchmark."""
    best_dir = Path(best_dir)
    paths = {"point": best_dir / f"{symbol}.json", "risk": best_dir / f"{symbol}_risk.json"}
    if not paths["point"].exists():
        raise FileNotFoundError(f"{paths['point']}: no production config for {symbol} (run the "
                                "pipeline's select stage)")
    records = {o: read_record(p) for o, p in paths.items() if o in OBJECTIVES and p.exists()}
    records[BENCHMARK] = Record(symbol, benchmark["model"], dict(benchmark))
    return records


@dataclass(frozen=True)
class Forecaster:
    """What a forecast needs besides its record and candles."""

    interval: str
    models_dir: Path
    seed: int

    def forecast(self, record: Record, context: pd.DataFrame) -> tuple[float, np.ndarray | None,
                                                                        float]:
        """(point, samples or None, seconds) of the candle after `context`."""
        started = time.perf_counter()
        result = forecast_next(record, context, self.interval, self.models_dir, self.seed)
        seconds = time.perf_counter() - started
        samples = None if result.samples is None else result.samples[0].astype(np.float64)
        return float(result.point[0]), samples, seconds


def _targets(ledger: Ledger, symbol: str, interval: str, objective: str, candles: pd.DataFrame,
             start: str | None) -> pd.DatetimeIndex:
    step = INTERVALS[interval]
    following = candles["timestamp"].iloc[-1] + step  # the candle still open
    last = ledger.last_target(symbol, interval, objective)
    first = last + step if last is not None else (pd.Timestamp(start) if start else following)
    if first < candles["timestamp"].iloc[0] + step:
        raise ValueError(f"params monitor.start {start}: before {symbol}'s first candle")
    return pd.date_range(first, following, freq=step)


def _forecast_row(record: Record, objective: str, candles: pd.DataFrame, target: pd.Timestamp,
                  forecaster: Forecaster, provenance: Mapping[str, Any]) -> dict[str, Any]:
    """One `forecasts` row; `provenance`: the columns every row of the batch shares."""
    context = candles[candles["timestamp"] < target]
    point, samples, seconds = forecaster.forecast(record, context)
    return {"symbol": record.symbol, "interval": forecaster.interval, "objective": objective,
            "target": target.to_pydatetime(), "last_close": float(context["close"].iloc[-1]),
            "point": point, "samples": None if samples is None else samples.tobytes(),
            "seed": forecaster.seed, "data_sha": candles_sha(context), **provenance,
            "latency_s": seconds,
            "made_at": pd.Timestamp.now(tz="UTC").tz_localize(None).to_pydatetime(),
            "forward": bool(target > candles["timestamp"].iloc[-1])}


def update_symbol(ledger: Ledger, symbol: str, candles: pd.DataFrame,
                  records: Mapping[str, Record], forecaster: Forecaster,
                  start: str | None = None) -> dict[str, int]:
    """Forecast, per objective, every candle after the ledger's last up to the one still open
    (an empty ledger: from `start`, or the open one), then score what has closed. Each
    objective's batch, and the scores, are one transaction each. Returns the counts written."""
    runtime = {"code_version": code_version(), "threads": torch.get_num_threads(),
               "machine": machine()}
    written = {}
    for objective, record in records.items():
        targets = _targets(ledger, symbol, forecaster.interval, objective, candles, start)
        provenance = {**runtime, "checkpoint_sha": sha256_of(
            config_checkpoints(record.config, forecaster.models_dir))}
        rows = [_forecast_row(record, objective, candles, t, forecaster, provenance)
                for t in tqdm(targets, desc=f"{symbol} {objective}", leave=False,
                              disable=len(targets) < 5)]
        if not rows:
            continue
        config = {"symbol": symbol, "objective": objective,
                  "config_sha": config_sha(record.config),
                  "chosen": (record.selection or {}).get("chosen", record.model),
                  "config_json": json.dumps(record.config, sort_keys=True),
                  "first_target": rows[0]["target"], "recorded_at": rows[0]["made_at"]}

        def write(conn, rows=rows, config=config):
            config_id = ledger.config_id(conn, config)
            ledger.add_forecasts(conn, [{**r, "config_id": config_id} for r in rows])

        ledger.run(write)
        written[objective] = len(rows)
    scores = score_rows(ledger.unscored(symbol, forecaster.interval), candles)
    ledger.run(lambda conn: ledger.add_scores(conn, scores))
    written["scores"] = len(scores)
    return written


def score_rows(forecasts: pd.DataFrame, candles: pd.DataFrame) -> list[dict[str, Any]]:
    """A score per forecast whose candle is among `candles` (closed): absolute return errors
    of the forecast and of naive, and from the samples the CRPS, the 80 and 95% interval
    hits, the lower VaR 95/99 exceedances and the PIT, all in return space."""
    closes = dict(zip(candles["timestamp"], candles["close"], strict=True))
    now = pd.Timestamp.now(tz="UTC").tz_localize(None).to_pydatetime()
    rows = []
    for f in forecasts.itertuples():
        actual = closes.get(pd.Timestamp(f.target))
        if actual is None:
            continue
        realised = actual / f.last_close - 1
        row = {"forecast_id": int(f.id), "actual_close": float(actual),
               "abs_error": abs(f.point / f.last_close - 1 - realised),
               "naive_abs_error": abs(realised), "scored_at": now}
        if f.samples is not None:
            returns = np.frombuffer(f.samples, np.float64) / f.last_close - 1
            q = np.quantile(returns, [0.01, 0.025, 0.05, 0.1, 0.9, 0.975])
            row.update(crps=float(crps_from_samples(returns[None], np.array([realised]))[0]),
                       in_80=bool(q[3] <= realised <= q[4]),
                       in_95=bool(q[1] <= realised <= q[5]),
                       var95_hit=bool(realised < q[2]), var99_hit=bool(realised < q[0]),
                       pit=float(pit_values(returns[None], np.array([realised]))[0]))
        rows.append(row)
    return rows


def verify(ledger: Ledger, source: CandleSource, forecaster: Forecaster,
           symbols: list[str] | None = None) -> list[str]:
    """Recompute every recorded forecast (of `symbols`, or all) from what it recorded: its
    config, the candles before its target (their hash must match) and its seed; one line per
    forecast that differs (data, checkpoint, point or samples)."""
    forecasts = ledger.frame(FORECASTS)
    configs = ledger.frame(CONFIGS).set_index("id")
    problems = []
    for symbol, rows in forecasts.groupby("symbol"):
        if symbols and symbol not in symbols:
            continue
        candles = source(symbol)
        for f in tqdm(list(rows.itertuples()), desc=f"verify {symbol}", leave=False):
            where = f"{symbol} {f.objective} {pd.Timestamp(f.target)}"
            config = json.loads(configs.loc[f.config_id, "config_json"])
            record = Record(symbol, config["model"], config)
            context = candles[candles["timestamp"] < pd.Timestamp(f.target)]
            if candles_sha(context) != f.data_sha:
                problems.append(f"{where}: the candles before it differ from the recorded ones")
                continue
            if sha256_of(config_checkpoints(config, forecaster.models_dir)) != f.checkpoint_sha:
                problems.append(f"{where}: the checkpoint differs from the recorded one")
                continue
            again = Forecaster(f.interval, forecaster.models_dir, int(f.seed))
            point, samples, _ = again.forecast(record, context)
            same = point == f.point and ((samples is None and f.samples is None) or (
                samples is not None and f.samples is not None and samples.tobytes() == f.samples))
            if not same:
                recorded_on = f.machine if pd.notna(f.machine) else "an unknown machine"
                problems.append(f"{where}: recomputed forecast differs (recorded with "
                                f"{f.threads} threads on {recorded_on}, "
                                f"{f.code_version}; now {torch.get_num_threads()} threads on "
                                f"{machine()}, {code_version()})")
    return problems
