"""params.yaml `monitor`, parsed once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptocast.config import from_mapping

OBJECTIVES = ("point", "risk")  # the production configs select writes
BENCHMARK = "benchmark"  # the distribution every forward CRPS is compared with


@dataclass(frozen=True)
class AlertSettings:
    """When `cryptocast monitor report` exits 1."""

    coverage_window: int  # scored candles the coverage alert looks back over
    coverage_80: list[float]  # [lo, hi]: the 80% interval's coverage must stay inside
    skill_alpha: float  # forward MAE above naive's with a DM p-value below this
    max_stale_candles: int  # the newest closed candle in the ledger may be this many old

    def __post_init__(self) -> None:
        if len(self.coverage_80) != 2 or not 0 <= self.coverage_80[0] < self.coverage_80[1] <= 1:
            raise ValueError(f"params monitor.alerts.coverage_80 must be [lo, hi] in [0, 1], "
                             f"got {list(self.coverage_80)}")
        if self.coverage_window < 1 or self.max_stale_candles < 1:
            raise ValueError("params monitor.alerts.coverage_window and max_stale_candles must "
                             "be >= 1")
        if not 0 < self.skill_alpha < 1:
            raise ValueError(f"params monitor.alerts.skill_alpha must be in (0, 1), got "
                             f"{self.skill_alpha}")


@dataclass(frozen=True)
class MonitorSettings:
    """ledger: a database URL or `env:NAME`; busy_timeout_s: how long a SQLite writer waits
    for another's lock; start: the first candle an empty ledger forecasts
    (None: the next one); benchmark: the config scored beside the production ones; rolling:
    candles in the report's rolling figures; min_dm: scored candles before a DM p-value."""

    ledger: str
    busy_timeout_s: float
    start: str | None
    benchmark: dict[str, Any]
    rolling: int
    min_dm: int
    alerts: AlertSettings

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> MonitorSettings:
        section = dict(params.get("monitor") or {})
        alerts = from_mapping(AlertSettings, section.get("alerts"), "params monitor.alerts")
        return from_mapping(cls, {**section, "alerts": alerts}, "params monitor")
