"""The candle data's shared types: columns, intervals, the repair policy, the per-series report
and the error that names file, row and problem."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import pandas as pd

from cryptocast.config import from_mapping

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
VALUE_COLUMNS = COLUMNS[1:]
PRICE_COLUMNS = ("open", "high", "low", "close")
_MINUTES = {
    "1m": 1,
    "3m": 3,
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "1h": 60,
    "2h": 120,
    "4h": 240,
    "6h": 360,
    "8h": 480,
    "12h": 720,
    "1d": 1440,
}
INTERVALS: dict[str, pd.Timedelta] = {k: pd.Timedelta(minutes=m) for k, m in _MINUTES.items()}


class CandleError(ValueError):
    """Bad candle data or data source; the message names the file (and row) and the problem."""


def row_error(source: str, row: int, ts: Any, problem: str) -> CandleError:
    return CandleError(f"{source}: row {row} (timestamp {ts}): {problem}")


@dataclass(frozen=True)
class RepairPolicy:
    """What to do with each data problem: "error" or the named repair (always logged)."""

    gaps: str
    duplicates: str
    unsorted: str
    invalid_rows: str
    extra_columns: str

    CHOICES = {
        "gaps": ("error", "forward_fill", "drop"),
        "duplicates": ("error", "keep_last", "keep_first"),
        "unsorted": ("error", "sort"),
        "invalid_rows": ("error", "drop"),
        "extra_columns": ("error", "ignore"),
    }

    def __post_init__(self) -> None:
        for f in fields(self):
            value, choices = getattr(self, f.name), self.CHOICES[f.name]
            if value not in choices:
                raise ValueError(
                    f"repair policy '{f.name}': {value!r} is not one of {', '.join(choices)}"
                )

    @classmethod
    def from_params(cls, d: dict | None) -> RepairPolicy:
        """Build from a params mapping; unknown keys and invalid values are errors."""
        return from_mapping(cls, d, "params data.repair")


@dataclass(frozen=True)
class CandleReport:
    """Summary of one validated series; `repairs` lists every repair applied (also logged)."""

    symbol: str
    interval: str
    rows: int
    start: pd.Timestamp
    end: pd.Timestamp
    gaps: int
    missing_candles: int
    repairs: list[str] = field(default_factory=list)
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["start"], d["end"] = self.start.isoformat(sep=" "), self.end.isoformat(sep=" ")
        return d


def interval_delta(interval: str) -> pd.Timedelta:
    """The Timedelta of a candle interval; a clear error for an unknown one."""
    if interval not in INTERVALS:
        raise ValueError(f"interval: {interval!r} is not one of {', '.join(INTERVALS)}")
    return INTERVALS[interval]
