"""OHLCV candle CSVs: read and write (the shared types are in cryptocast.data.schema).

Layout: ``<source_dir>/<interval>/<SYMBOL>.csv`` with columns timestamp,open,high,low,close,volume;
timestamp is the UTC candle open time, "YYYY-MM-DD" (1d) or "YYYY-MM-DD HH:MM:SS", or integer
epoch milliseconds. Errors read "<file>: row <n> (timestamp <ts>): <problem>", where row n is the
1-based data row (the header is not counted, so row n is line n + 1 of the file). Reading checks
columns, then that timestamps and numbers parse; the value checks and repairs that follow are in
cryptocast.data.validate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cryptocast.data.schema import (
    COLUMNS,
    INTERVALS,
    VALUE_COLUMNS,
    CandleError,
    CandleReport,
    RepairPolicy,
    interval_delta,
    row_error,
)
from cryptocast.data.validate import validate_candles
from cryptocast.io import write_atomic

_EPOCH_MS = r"\d{12,14}"  # 13 digits for 2001-2286; 10-digit epoch seconds are rejected

# ---------------------------------------------------------------- reading and parsing


def _load_csv(path: Path, policy: RepairPolicy, repairs: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise CandleError(f"{path}: file not found")
    try:
        raw = pd.read_csv(path, dtype={"timestamp": str}, skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        raise CandleError(f"{path}: empty file (no header, no rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise CandleError(f"{path}: malformed CSV: {exc}") from None
    found = [str(c) for c in raw.columns]
    missing = [c for c in COLUMNS if c not in found]
    if missing:
        raise CandleError(
            f"{path}: missing column(s) {', '.join(map(repr, missing))}; "
            f"expected {','.join(COLUMNS)} (found {','.join(found)})"
        )
    extra = [c for c in found if c not in COLUMNS]
    if extra and policy.extra_columns == "error":
        raise CandleError(
            f"{path}: unexpected column(s) {', '.join(map(repr, extra))}; "
            f"expected {','.join(COLUMNS)} (set extra_columns: ignore to skip them)"
        )
    if extra:
        repairs.append(f"ignored extra column(s) {', '.join(map(repr, extra))}")
    raw = raw[list(COLUMNS)]
    blank = raw.isna().all(axis=1).to_numpy()
    filled = np.flatnonzero(~blank)
    raw = raw.iloc[: filled[-1] + 1 if len(filled) else 0]  # trailing empty lines are not data
    if raw.empty:
        raise CandleError(f"{path}: no data rows (header only)")
    if blank[: len(raw)].any():
        raise row_error(str(path), int(np.argmax(blank)) + 1, "?", "empty line")
    return raw


def _parse_timestamps(raw: pd.Series, source: str) -> pd.Series:
    ts = pd.to_datetime(raw, format="%Y-%m-%d %H:%M:%S", errors="coerce")
    todo = ts.isna() & raw.notna()
    if todo.any():
        ts[todo] = pd.to_datetime(raw[todo], format="%Y-%m-%d", errors="coerce")
        todo = ts.isna() & raw.notna()
    if todo.any():
        ms = todo & raw.str.fullmatch(_EPOCH_MS).fillna(False).astype(bool)
        ts[ms] = pd.to_datetime(raw[ms].astype("int64"), unit="ms")
    bad = ts.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        value = raw.iloc[i]
        problem = (
            "missing timestamp"
            if pd.isna(value)
            else f"unparsable timestamp {value!r}; expected YYYY-MM-DD, "
            "YYYY-MM-DD HH:MM:SS or epoch milliseconds"
        )
        raise row_error(source, i + 1, "?" if pd.isna(value) else value, problem)
    return ts.astype("datetime64[ns]")


def _parse_numbers(raw: pd.DataFrame, timestamps: pd.Series, source: str) -> pd.DataFrame:
    out = pd.DataFrame({"timestamp": timestamps})
    for col in VALUE_COLUMNS:
        values = raw[col]
        if not pd.api.types.is_float_dtype(values) and not pd.api.types.is_integer_dtype(values):
            parsed = pd.to_numeric(values, errors="coerce")
            bad = (parsed.isna() & values.notna()).to_numpy()
            if bad.any():
                i = int(np.argmax(bad))
                raise row_error(
                    source,
                    i + 1,
                    timestamps.iloc[i],
                    f"unparsable number {values.iloc[i]!r} in column '{col}'",
                )
            values = parsed
        out[col] = values.astype("float64")
    return out


def read_candles(
    path: Path, interval: str, policy: RepairPolicy, symbol: str | None = None
) -> tuple[pd.DataFrame, CandleReport]:
    """Read, validate and repair one candle CSV; returns (candles, report).

    Candles: timestamp (datetime64[ns], UTC-naive open time), open, high, low, close, volume
    (float64), sorted, RangeIndex. Raises CandleError naming file, row and problem."""

    path = Path(path)
    interval_delta(interval)
    repairs: list[str] = []
    raw = _load_csv(path, policy, repairs)
    timestamps = _parse_timestamps(raw["timestamp"], str(path))
    frame = _parse_numbers(raw, timestamps, str(path))
    return validate_candles(
        frame, interval, policy, source=str(path), symbol=symbol or path.stem, repairs=repairs
    )


# ---------------------------------------------------------------- discovery and writing


def discover(
    source_dir: Path, intervals: list[str] | None = None, symbols: list[str] | None = None
) -> list[tuple[str, str, Path]]:
    """(interval, symbol, path) of the candle CSVs under `source_dir`/<interval>/<SYMBOL>.csv.

    A requested interval or symbol that is missing is an error naming the expected path."""
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise CandleError(f"data.source_dir {str(source_dir)!r} is not a directory")
    available = sorted(p.name for p in source_dir.iterdir() if p.is_dir() and p.name in INTERVALS)
    for interval in intervals or []:
        interval_delta(interval)
        if interval not in available:
            raise CandleError(
                f"{source_dir / interval}: no candle directory for interval {interval!r} "
                f"(found: {', '.join(available) or 'none'})"
            )
    found: list[tuple[str, str, Path]] = []
    for interval in intervals or available:
        folder = source_dir / interval
        if symbols is None:
            found += [(interval, p.stem, p) for p in sorted(folder.glob("*.csv"))]
            continue
        for symbol in symbols:
            path = folder / f"{symbol}.csv"
            if not path.is_file():
                raise CandleError(f"{path}: no candles for symbol {symbol!r} at {interval}")
            found.append((interval, symbol, path))
    if not found:
        raise CandleError(f"{source_dir}: no candle CSVs found (<interval>/<SYMBOL>.csv)")
    return found


def write_candles_csv(frame: pd.DataFrame, path: Path, interval: str | None = None) -> None:
    """Write candles atomically in the shared CSV layout.

    Timestamps are date-only when `interval` is "1d" (inferred, if not given, from every
    timestamp being at midnight and at least a day apart)."""
    ts = frame["timestamp"]
    if interval is None:
        daily_spacing = len(ts) < 2 or ts.diff().iloc[1:].min() >= pd.Timedelta(days=1)
        date_only = bool((ts == ts.dt.normalize()).all()) and daily_spacing
    else:
        date_only = interval_delta(interval) == pd.Timedelta(days=1)
    out = frame[list(COLUMNS)].copy()
    out["timestamp"] = ts.dt.strftime("%Y-%m-%d" if date_only else "%Y-%m-%d %H:%M:%S")
    write_atomic(path, lambda tmp: out.to_csv(tmp, index=False))
