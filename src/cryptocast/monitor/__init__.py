"""The forward record: a ledger of the production configs' forecasts, scored as candles close."""

from cryptocast.monitor.ledger import CONFIGS, FORECASTS, SCORES, Ledger, LedgerError
from cryptocast.monitor.settings import BENCHMARK, AlertSettings, MonitorSettings
from cryptocast.monitor.summary import (
    ForwardRecord,
    alerts,
    forward_records,
    markdown,
    periods_per_year,
    rolling_figure,
    table_rows,
)
from cryptocast.monitor.update import (
    Forecaster,
    candles_sha,
    production_records,
    score_rows,
    update_symbol,
    verify,
)

__all__ = ["BENCHMARK", "CONFIGS", "FORECASTS", "SCORES", "AlertSettings", "Forecaster",
           "ForwardRecord", "Ledger", "LedgerError", "MonitorSettings", "alerts", "candles_sha",
           "forward_records", "markdown", "periods_per_year",
           "production_records", "rolling_figure", "score_rows", "table_rows", "update_symbol",
           "verify"]
