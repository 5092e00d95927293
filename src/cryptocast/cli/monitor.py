"""`cryptocast monitor`: the forecast ledger of the production configs, scored as candles
arrive (update), recomputed (verify) and summarised with alerts (report)."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from cryptocast.cli.common import DEVICE, PARAMS, fetch_recent
from cryptocast.config import DataConfig, EvalConfig, load_params, symbols_from_params
from cryptocast.data.candles import read_candles
from cryptocast.data.schema import RepairPolicy
from cryptocast.database import resolve_url
from cryptocast.io import write_atomic
from cryptocast.monitor import (
    FORECASTS,
    Forecaster,
    Ledger,
    MonitorSettings,
    alerts,
    forward_records,
    markdown,
    periods_per_year,
    production_records,
    rolling_figure,
    table_rows,
    update_symbol,
    verify,
)
from cryptocast.runtime import load_and_configure

LEDGER = click.option("--ledger", "ledger_url", default=None,
                      help="Database URL or env:NAME (default: params monitor.ledger).")
SYMBOLS = click.option("--symbol", "symbols", multiple=True,
                       help="Only these symbols (repeatable; default: params symbols).")
SOURCE = [
    click.option("--source-dir", type=click.Path(file_okay=False), default=None,
                 help="A folder of <interval>/<SYMBOL>.csv (default: params data.source_dir)."),
    click.option("--live", is_flag=True, help="Fetch closed candles from the exchange (ccxt)."),
    click.option("--exchange", default="binance", show_default=True,
                 help="ccxt exchange for --live."),
]


def _source_options(command):
    for option in reversed(SOURCE):
        command = option(command)
    return command


@click.group()
def monitor() -> None:
    """Record, score and watch the production configs' forecasts as candles arrive."""


def _ledger(params: dict, url: str | None) -> Ledger:
    settings = MonitorSettings.from_params(params)
    return Ledger(resolve_url(url or settings.ledger, "--ledger" if url else
                              "params monitor.ledger"), settings.busy_timeout_s)


def candle_source(params: dict, interval: str, source_dir: str | None, live: bool,
                   exchange: str):
    """symbol -> its closed candles, from CSV files or the exchange."""
    if live:
        return lambda symbol: fetch_recent(exchange, symbol, interval)
    cfg = DataConfig.from_params(params)
    policy = RepairPolicy.from_params(cfg.repair)
    folder = Path(source_dir or cfg.source_dir) / interval

    def read(symbol: str) -> pd.DataFrame:
        path = folder / f"{symbol}.csv"
        if not path.exists():
            raise FileNotFoundError(f"{path}: no {interval} candles for {symbol}")
        return read_candles(path, interval, policy, symbol=symbol)[0]

    return read


@monitor.command("update")
@PARAMS
@LEDGER
@SYMBOLS
@_source_options
@DEVICE
def update(params_path, ledger_url, symbols, source_dir, live, exchange, device) -> None:
    """Forecast every candle not yet in the ledger, up to the one still open, with each
    symbol's production configs (hyperparams/best/) and the benchmark; score every forecast
    whose candle has closed."""
    params = load_and_configure(params_path, device)[0]
    settings = MonitorSettings.from_params(params)
    interval = EvalConfig.from_params(params).interval
    source = candle_source(params, interval, source_dir, live, exchange)
    forecaster = Forecaster(interval, Path("models"), int(params["seed"]))
    ledger = _ledger(params, ledger_url)
    for symbol in symbols or symbols_from_params(params):
        records = production_records(symbol, "hyperparams/best", settings.benchmark)
        written = update_symbol(ledger, symbol, source(symbol), records, forecaster,
                                settings.start)
        click.echo(f"{symbol}: " + ", ".join(f"{k} {v}" for k, v in written.items())
                   + f" written to ledger {ledger.name}")


@monitor.command("verify")
@PARAMS
@LEDGER
@SYMBOLS
@_source_options
@DEVICE
def verify_command(params_path, ledger_url, symbols, source_dir, live, exchange,
                   device) -> None:
    """Recompute the ledger's forecasts from what they recorded; list any that differ and
    exit 1 if one does."""
    params = load_and_configure(params_path, device)[0]
    interval = EvalConfig.from_params(params).interval
    source = candle_source(params, interval, source_dir, live, exchange)
    ledger = _ledger(params, ledger_url)
    problems = verify(ledger, source, Forecaster(interval, Path("models"), 0), list(symbols))
    for line in problems:
        click.echo(line)
    checked = ledger.count(FORECASTS)
    click.echo(f"{checked} forecasts in ledger {ledger.name}; {len(problems)} differ")
    if problems:
        raise SystemExit(1)


@monitor.command("report")
@PARAMS
@LEDGER
@click.option("--out", "out_dir", default="reports/monitor", show_default=True,
              type=click.Path(file_okay=False), help="Writes report.md and a figure per symbol.")
@click.option("--as-of", default=None, help="The time the alerts judge staleness at (UTC; "
                                            "default: now).")
def report(params_path, ledger_url, out_dir, as_of) -> None:
    """The forward record per symbol and objective beside the backtest's test figures, rolling
    figures and the alerts: one line per alert, and exit 1 if there is one."""
    params = load_params(params_path)
    settings = MonitorSettings.from_params(params)
    cfg = EvalConfig.from_params(params)
    ledger = _ledger(params, ledger_url)
    scored = ledger.scored()
    if scored.empty:
        raise click.UsageError(f"ledger {ledger.name}: no scored forecast yet (run `cryptocast "
                               "monitor update` after a candle closes)")
    records = forward_records(scored, settings.min_dm, cfg.fee_bps, periods_per_year(cfg.interval))
    backtests = {(s, o): r for s in scored["symbol"].unique() for o, r in production_records(
        s, "hyperparams/best", settings.benchmark).items()}
    now = pd.Timestamp(as_of) if as_of else pd.Timestamp.now(tz="UTC").tz_localize(None)
    alert_lines = alerts(records, scored, ledger.newest_targets(), cfg.interval,
                         now, settings.min_dm, settings.alerts)
    out = Path(out_dir)
    figures = [rolling_figure(scored, s, settings.rolling, out / f"{s}_rolling.png")
               for s in sorted(scored["symbol"].unique())]
    rows = table_rows(records, backtests)
    header = (f"Ledger {ledger.name}, {len(scored)} scored forecasts up to "
              f"{pd.Timestamp(scored['target'].max())}; in brackets the backtest's test figure "
              "of the config now in production; alerts judged at " + str(now) + ".")
    text = markdown(rows, figures, alert_lines, out, header)
    write_atomic(out / "report.md", lambda tmp: tmp.write_text(text))
    click.echo(text)
    if alert_lines:
        raise SystemExit(1)
