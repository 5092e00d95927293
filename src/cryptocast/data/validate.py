"""Validation and policy-driven repair of parsed OHLCV candles.

Checks run in this order: alignment to the interval, duplicate timestamps, order, invalid values
(NaN, non-positive prices, negative volume, high < low, open/close outside [low, high]), gaps.
Errors read "<source>: row <n> (timestamp <ts>): <problem>" with n the 1-based input row. Every
repair is logged and listed in the CandleReport.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from cryptocast.data.schema import (
    COLUMNS,
    PRICE_COLUMNS,
    VALUE_COLUMNS,
    CandleError,
    CandleReport,
    RepairPolicy,
    interval_delta,
    row_error,
)

# Repairs are logged under the candles logger: read_candles is the entry point users filter on.
log = logging.getLogger("cryptocast.data.candles")


def validate_candles(
    frame: pd.DataFrame,
    interval: str,
    policy: RepairPolicy,
    source: str = "<frame>",
    symbol: str = "",
    repairs: list[str] | None = None,
) -> tuple[pd.DataFrame, CandleReport]:
    """Validate parsed candles (rows numbered from 1 in the given order) and apply `policy`."""
    step = interval_delta(interval)
    repairs = list(repairs or [])
    frame = frame[list(COLUMNS)].reset_index(drop=True)
    frame.insert(0, "_row", np.arange(1, len(frame) + 1))
    _check_alignment(frame, interval, step, source)
    frame = _check_duplicates(frame, policy, source, repairs)
    frame = _check_order(frame, policy, source, repairs)
    frame = _check_values(frame, policy, source, repairs)
    frame, gaps, missing = _check_gaps(frame, interval, step, policy, source, repairs)
    for message in repairs:
        log.warning("%s: %s", source, message)
    out = frame.drop(columns="_row").reset_index(drop=True)
    report = CandleReport(
        symbol=symbol,
        interval=interval,
        rows=len(out),
        start=out["timestamp"].iloc[0],
        end=out["timestamp"].iloc[-1],
        gaps=gaps,
        missing_candles=missing,
        repairs=repairs,
        source=source,
    )
    return out, report


def _first(frame: pd.DataFrame, mask: np.ndarray) -> tuple[int, pd.Timestamp]:
    i = int(np.argmax(mask))
    return int(frame["_row"].iloc[i]), frame["timestamp"].iloc[i]


def _rows_preview(rows: np.ndarray, limit: int = 5) -> str:
    shown = ", ".join(str(r) for r in rows[:limit])
    return shown + (f", ... ({len(rows)} in total)" if len(rows) > limit else "")


def _check_alignment(frame: pd.DataFrame, interval: str, step: pd.Timedelta, source: str) -> None:
    ns = frame["timestamp"].to_numpy().astype("int64")
    bad = ns % step.value != 0
    if bad.any():
        row, ts = _first(frame, bad)
        raise row_error(
            source,
            row,
            ts,
            f"timestamp not aligned to the {interval} interval "
            f"({int(bad.sum())} misaligned row(s) in total)",
        )


def _check_duplicates(
    frame: pd.DataFrame, policy: RepairPolicy, source: str, repairs: list[str]
) -> pd.DataFrame:
    later = frame["timestamp"].duplicated(keep="first").to_numpy()
    if not later.any():
        return frame
    row, ts = _first(frame, later)
    first_row = int(frame.loc[frame["timestamp"] == ts, "_row"].iloc[0])
    if policy.duplicates == "error":
        raise row_error(
            source,
            row,
            ts,
            f"duplicate timestamp, same as row {first_row} "
            f"({int(later.sum())} duplicate row(s) in total)",
        )
    dups = frame[frame["timestamp"].duplicated(keep=False)]
    varied = dups.groupby("timestamp")[list(VALUE_COLUMNS)].nunique().gt(1)
    differing = int(varied.any(axis=1).sum())
    keep = "first" if policy.duplicates == "keep_first" else "last"
    repairs.append(
        f"dropped {int(later.sum())} row(s) with a duplicate timestamp, kept the {keep} of each "
        f"(first: rows {first_row} and {row}; {differing} group(s) with differing values)"
    )
    return frame[~frame["timestamp"].duplicated(keep=keep).to_numpy()]


def _check_order(
    frame: pd.DataFrame, policy: RepairPolicy, source: str, repairs: list[str]
) -> pd.DataFrame:
    ns = frame["timestamp"].to_numpy()
    back = np.zeros(len(frame), dtype=bool)
    back[1:] = ns[1:] < ns[:-1]
    if not back.any():
        return frame
    row, ts = _first(frame, back)
    i = int(np.argmax(back))
    prev_row, prev_ts = int(frame["_row"].iloc[i - 1]), frame["timestamp"].iloc[i - 1]
    if policy.unsorted == "error":
        raise row_error(
            source,
            row,
            ts,
            f"timestamps not in ascending order: earlier than row {prev_row} ({prev_ts}) "
            f"({int(back.sum())} out-of-order row(s) in total)",
        )
    repairs.append(f"sorted rows by timestamp ({int(back.sum())} out of order, first at row {row})")
    return frame.sort_values("timestamp", kind="stable")


def _value_masks(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    v = {c: frame[c].to_numpy() for c in VALUE_COLUMNS}
    with np.errstate(invalid="ignore"):
        masks = {f"nonfinite_{c}": ~np.isfinite(v[c]) for c in VALUE_COLUMNS}
        masks.update({f"nonpositive_{c}": v[c] <= 0 for c in PRICE_COLUMNS})
        masks["negative_volume"] = v["volume"] < 0
        masks["high_lt_low"] = v["high"] < v["low"]
        for c in ("open", "close"):
            masks[f"outside_{c}"] = (v[c] < v["low"]) | (v[c] > v["high"])
    return masks


def _row_problems(r: pd.Series, masks: dict[str, bool]) -> list[str]:
    problems = []
    for c in VALUE_COLUMNS:
        if masks[f"nonfinite_{c}"]:
            problems.append(
                f"missing value (NaN) in column '{c}'"
                if np.isnan(r[c])
                else f"non-finite value {r[c]} in column '{c}'"
            )
    problems += [
        f"non-positive price in column '{c}': {r[c]}"
        for c in PRICE_COLUMNS
        if masks[f"nonpositive_{c}"]
    ]
    if masks["negative_volume"]:
        problems.append(f"negative volume: {r['volume']}")
    if masks["high_lt_low"]:  # then open/close are necessarily "outside" too: not repeated
        return [*problems, f"high {r['high']} < low {r['low']}"]
    return problems + [
        f"{c} {r[c]} outside [low {r['low']}, high {r['high']}]"
        for c in ("open", "close")
        if masks[f"outside_{c}"]
    ]


def _check_values(
    frame: pd.DataFrame, policy: RepairPolicy, source: str, repairs: list[str]
) -> pd.DataFrame:
    masks = _value_masks(frame)
    bad = np.logical_or.reduce(list(masks.values()))
    if not bad.any():
        return frame
    bad_rows = np.sort(frame["_row"].to_numpy()[bad])
    if policy.invalid_rows == "error":
        i = int(np.flatnonzero(bad)[np.argmin(frame["_row"].to_numpy()[bad])])
        problems = _row_problems(frame.iloc[i], {k: bool(m[i]) for k, m in masks.items()})
        raise row_error(
            source,
            int(frame["_row"].iloc[i]),
            frame["timestamp"].iloc[i],
            "; ".join(problems) + f" ({len(bad_rows)} invalid row(s) in total)",
        )
    if bad.all():
        raise CandleError(f"{source}: every row is invalid (first: row {bad_rows[0]})")
    repairs.append(f"dropped {len(bad_rows)} invalid row(s): rows {_rows_preview(bad_rows)}")
    return frame[~bad]


def _check_gaps(
    frame: pd.DataFrame,
    interval: str,
    step: pd.Timedelta,
    policy: RepairPolicy,
    source: str,
    repairs: list[str],
) -> tuple[pd.DataFrame, int, int]:
    ns = frame["timestamp"].to_numpy().astype("int64")
    sizes = np.diff(ns) // step.value - 1  # candles missing after each row
    at = np.flatnonzero(sizes > 0)
    if len(at) == 0:
        return frame, 0, 0
    gaps, missing = len(at), int(sizes[at].sum())
    i = int(at[0])
    first = (
        f"gap of {int(sizes[i])} missing {interval} candle(s) before row "
        f"{int(frame['_row'].iloc[i + 1])} ({frame['timestamp'].iloc[i + 1]})"
    )
    total = f"{gaps} gap(s), {missing} missing candle(s) in total"
    if policy.gaps == "error":
        raise row_error(
            source, int(frame["_row"].iloc[i]), frame["timestamp"].iloc[i], f"{first}; {total}"
        )
    longest = int(at[np.argmax(sizes[at])])
    detail = (
        f"{total}; first after {frame['timestamp'].iloc[i]}, longest {int(sizes[longest])} "
        f"candle(s) after {frame['timestamp'].iloc[longest]}"
    )
    if policy.gaps == "drop":
        repairs.append(f"left gaps unfilled (gaps: drop): {detail}")
        return frame, gaps, missing
    repairs.append(
        f"forward-filled gaps with the previous close and volume 0 (gaps: forward_fill): {detail}"
    )
    return _forward_fill(frame, step), gaps, missing


def _forward_fill(frame: pd.DataFrame, step: pd.Timedelta) -> pd.DataFrame:
    ts = frame["timestamp"]
    full = pd.date_range(ts.iloc[0], ts.iloc[-1], freq=step)
    out = frame.set_index("timestamp").reindex(full)
    prev_close = out["close"].ffill()
    for c in PRICE_COLUMNS:
        out[c] = out[c].fillna(prev_close)
    out["volume"] = out["volume"].fillna(0.0)
    out["_row"] = out["_row"].fillna(0).astype("int64")
    out.index.name = "timestamp"
    return out.reset_index()[["_row", *COLUMNS]]
