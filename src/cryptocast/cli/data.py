"""`cryptocast data`: check local candle CSVs, or fetch candles from an exchange."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from cryptocast.cli.common import PARAMS
from cryptocast.config import DataConfig, load_params, symbols_from_params
from cryptocast.data.candles import discover, read_candles, write_candles_csv
from cryptocast.data.fetch import fetch_candles
from cryptocast.data.schema import INTERVALS, CandleError, RepairPolicy


@click.group()
def data() -> None:
    """Check local candle CSVs or fetch candles from an exchange."""


SOURCE_HELP = ("point data.source_dir in params.yaml at a folder of <interval>/<SYMBOL>.csv "
               "files, or download them with `cryptocast data fetch --out-dir DIR` (needs "
               "internet) and point data.source_dir there")


@data.command("check")
@PARAMS
@click.option("--source-dir", type=click.Path(file_okay=False), help="Overrides data.source_dir.")
@click.option("--interval", "intervals", multiple=True, help="Only these intervals (repeatable).")
@click.option("--symbol", "symbols", multiple=True, help="Only these symbols (repeatable).")
def data_check(params_path, source_dir, intervals, symbols) -> None:
    """Validate every CSV with the repair policy of params.yaml: one line per series (its
    report, or its problem), a summary, and exit 1 if any file has a problem."""
    cfg = DataConfig.from_params(load_params(params_path))
    policy = RepairPolicy.from_params(cfg.repair)
    try:
        found = discover(Path(source_dir or cfg.source_dir), list(intervals) or cfg.intervals,
                         list(symbols) or None)
    except CandleError as err:
        raise click.UsageError(f"{err}: {SOURCE_HELP}") from err
    bad = 0
    for interval, symbol, path in found:
        try:
            _, report = read_candles(path, interval, policy, symbol=symbol)
        except (CandleError, ValueError) as err:
            bad += 1
            click.echo(f"{interval:>4} {symbol:<10} ERROR {err}")
            continue
        r = report.to_dict()
        click.echo(
            f"{interval:>4} {symbol:<10} rows {r['rows']:>7}  {r['start']} .. {r['end']}  "
            f"gaps {r['gaps']} (missing {r['missing_candles']})  repairs {len(r['repairs'])}"
        )
    click.echo(f"{len(found)} files checked, {len(found) - bad} ok, {bad} with problems")
    if bad:
        raise SystemExit(1)


@data.command("preflight")
@PARAMS
def data_preflight(params_path) -> None:
    """Stop at once, before the pipeline writes anything, if data.source_dir lacks a CSV
    that the prepare stage needs (`make all` runs this first)."""
    params = load_params(params_path)
    cfg = DataConfig.from_params(params)
    try:
        found = discover(Path(cfg.source_dir), cfg.intervals, symbols_from_params(params))
    except CandleError as err:
        raise click.UsageError(f"{err}: {SOURCE_HELP}") from err
    click.echo(f"data.source_dir {cfg.source_dir}: {len(found)} candle files found")


@data.command("fetch")
@click.option("--exchange", default="binance", show_default=True, help="A ccxt exchange id.")
@click.option("--symbol", required=True, help="Symbol as in the CSV names, e.g. BTCUSDT.")
@click.option("--interval", default="1d", show_default=True, type=click.Choice(sorted(INTERVALS)))
@click.option("--since", required=True, help="First candle (UTC), e.g. 2024-01-01.")
@click.option("--until", default=None, help="Candles opening before this time (UTC); default: now.")
@click.option(
    "--out-dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Writes <out-dir>/<interval>/<SYMBOL>.csv (usable as data.source_dir).",
)
def data_fetch(exchange, symbol, interval, since, until, out_dir) -> None:
    """Download candles from an exchange's public API (needs internet)."""
    frame = fetch_candles(
        exchange, symbol, interval, pd.Timestamp(since), pd.Timestamp(until) if until else None
    )
    path = Path(out_dir) / interval / f"{symbol}.csv"
    write_candles_csv(frame, path, interval)
    click.echo(f"wrote {len(frame)} candles to {path}")
