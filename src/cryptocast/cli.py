"""`cryptocast`: the library for a person at a terminal."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click
import pandas as pd

from cryptocast.config import DataConfig, EvalConfig, load_params
from cryptocast.data.candles import (
    INTERVALS,
    RepairPolicy,
    discover,
    read_candles,
    write_candles_csv,
)
from cryptocast.data.fetch import fetch_candles

PARAMS = click.option(
    "--params",
    "params_path",
    default="params.yaml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Pipeline params file.",
)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log repairs and progress details.")
def main(verbose: bool) -> None:
    """Reproducible crypto price forecasting with Toto and Kronos."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")


@main.group()
def data() -> None:
    """Check local candle CSVs or fetch candles from an exchange."""


@data.command("check")
@PARAMS
@click.option("--source-dir", type=click.Path(file_okay=False), help="Overrides data.source_dir.")
@click.option("--interval", "intervals", multiple=True, help="Only these intervals (repeatable).")
@click.option("--symbol", "symbols", multiple=True, help="Only these symbols (repeatable).")
def data_check(params_path, source_dir, intervals, symbols) -> None:
    """Validate every CSV with the repair policy of params.yaml and print a report per series."""
    cfg = DataConfig.from_params(load_params(params_path))
    policy = RepairPolicy.from_params(cfg.repair)
    found = discover(
        Path(source_dir or cfg.source_dir), list(intervals) or cfg.intervals, list(symbols) or None
    )
    for interval, symbol, path in found:
        _, report = read_candles(path, interval, policy, symbol=symbol)
        r = report.to_dict()
        click.echo(
            f"{interval:>4} {symbol:<10} rows {r['rows']:>7}  {r['start']} .. {r['end']}  "
            f"gaps {r['gaps']} (missing {r['missing_candles']})  repairs {len(r['repairs'])}"
        )


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


@main.command()
@PARAMS
@click.option("--symbol", required=True, help="A prepared symbol, e.g. ETHUSDT.")
@click.option(
    "--stage",
    default="baseline",
    show_default=True,
    help="params section holding the candidates (<stage>.<symbol>.candidates).",
)
@click.option("--candidate", "names", multiple=True, help="Only these candidates (repeatable).")
@click.option(
    "--spec",
    "specs",
    multiple=True,
    metavar="NAME=JSON",
    help='An extra candidate, e.g. toto8=\'{"model": "toto", "num_samples": 8}\'.',
)
def evaluate(params_path, symbol, stage, names, specs) -> None:
    """Evaluate candidates on the validation and test splits and print the key metrics."""
    from cryptocast.evaluation.evaluate import evaluate_symbol

    params = load_params(params_path)
    section = params.get(stage, {}).get(symbol, {"reference": "naive", "candidates": {}})
    candidates = {k: v for k, v in section["candidates"].items() if not names or k in names}
    for item in specs:
        name, _, text = item.partition("=")
        candidates[name] = json.loads(text)
    candidates.setdefault("naive", {"model": "naive"})
    reference = section["reference"] if section["reference"] in candidates else "naive"
    metrics, _ = evaluate_symbol(
        "data/prepared",
        "models",
        symbol,
        candidates,
        reference,
        EvalConfig.from_params(params),
        seed=params.get("seed", 0),
    )
    columns = ["pct_return_mae", "skill_vs_naive", "dm_pvalue_vs_naive", "crps", "latency_s"]
    for split, by_name in metrics.items():
        table = pd.DataFrame(by_name).T.reindex(columns=columns)
        click.echo(f"{split} (reference: {reference})")
        click.echo(table.to_string(float_format="{:.4g}".format))


@main.command()
@PARAMS
@click.option("--symbol", required=True, help="A prepared symbol, e.g. BTCUSDT.")
@click.option(
    "--candidate",
    default="naive",
    show_default=True,
    help="Candidate name in baseline.<symbol>.candidates.",
)
def forecast(params_path, symbol, candidate) -> None:
    """Forecast the close of the next candle after the last prepared one."""
    import numpy as np

    from cryptocast.data.prepared import load_series, read_splits
    from cryptocast.evaluation.backtest import make_context
    from cryptocast.forecast.base import OHLCV
    from cryptocast.forecast.registry import build_forecaster

    params = load_params(params_path)
    candidates = params["baseline"][symbol]["candidates"]
    if candidate not in candidates:
        raise click.BadParameter(f"not in {sorted(candidates)}", param_hint="--candidate")
    interval = read_splits("data/prepared").interval
    candles = load_series("data/prepared", interval, symbol)
    model = build_forecaster(candidate, candidates[candidate], "models", params.get("seed", 0))
    context = make_context(
        candles["timestamp"].to_numpy(dtype="datetime64[ns]"),
        candles[list(OHLCV)].to_numpy(dtype=np.float64),
        len(candles),
        model.context_length,
        1,
        INTERVALS[interval],
    )
    result = model.predict([context])
    last, predicted = context.close[-1], result.point[0, 0]
    when = pd.Timestamp(context.future_timestamps[0])
    click.echo(
        f"{symbol} {interval} candle {when}: close {predicted:.6g} "
        f"(last {last:.6g}, return {predicted / last - 1:+.3%}) by {candidate}"
    )


@main.command()
@PARAMS
@click.option("--metrics-dir", default="metrics", show_default=True,
              type=click.Path(file_okay=False))
@click.option("--all", "show_all", is_flag=True, help="Every candidate, not just the summary.")
def report(params_path, metrics_dir, show_all) -> None:
    """Print which configuration to run per symbol and what each plan item did."""
    from cryptocast.report import SUMMARY_COLUMNS, markdown_table, summary_rows, symbol_reports
    from cryptocast.report.tables import COLUMNS, candidate_row

    try:
        reports = symbol_reports(load_params(params_path), metrics_dir, "hyperparams")
    except FileNotFoundError as err:
        raise click.UsageError(f"{err}; run the pipeline first (make all)") from err
    click.echo(markdown_table(SUMMARY_COLUMNS, summary_rows(reports)))
    for r in reports:
        click.echo(f"\n{r.symbol}")
        for line in r.verdicts:
            click.echo(f"  {line.replace('**', '')}")
        if show_all:
            click.echo(markdown_table(COLUMNS, [candidate_row(c) for c in r.candidates]))


@main.group()
def sweep() -> None:
    """Optuna sweeps shared by several machines through one database."""


@sweep.command("worker")
@PARAMS
@click.option("--storage", required=True,
              help="SQLAlchemy URL of the study database, e.g. "
                   "postgresql+psycopg://user:password@host:5432/optuna.")
@click.option("--study", "study_name", required=True,
              help="Study name, as sweep@SYMBOL printed it (metrics/sweep/<SYMBOL>.json).")
@click.option("--n-trials", type=int, default=None,
              help="Finished trials the study should hold (default: params sweep n_trials).")
@click.option("--heartbeat", type=int, default=10, show_default=True,
              help="Seconds between heartbeats; a silent worker's trial is retried.")
@click.option("--grace", type=int, default=30, show_default=True,
              help="Seconds without a heartbeat before a running trial counts as failed.")
def sweep_worker(params_path, storage, study_name, n_trials, heartbeat, grace) -> None:
    """Join a running sweep study and run its trials here until it is done."""
    from cryptocast.tuning.worker import run_worker

    try:
        done = run_worker(load_params(params_path), storage, study_name, n_trials,
                          heartbeat_interval=heartbeat, grace_period=grace)
    except (ValueError, FileNotFoundError) as err:
        raise click.UsageError(str(err)) from err
    click.echo(f"{study_name}: {done} finished trials")


if __name__ == "__main__":
    main()
