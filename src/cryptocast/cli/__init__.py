"""`cryptocast`: the library for a person at a terminal."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import click
import numpy as np
import pandas as pd

from cryptocast.cli.common import DEVICE, PARAMS, OneLineErrors, fetch_recent
from cryptocast.cli.data import data
from cryptocast.cli.monitor import monitor
from cryptocast.config import (
    EvalConfig,
    ModelSettings,
    baselines_from_params,
    family_defaults,
    load_params,
)
from cryptocast.forecast.registry import FAMILIES
from cryptocast.runtime import load_and_configure
from cryptocast.tuning.records import read_record


@click.group(cls=OneLineErrors)
@click.option("-v", "--verbose", is_flag=True, help="Log repairs and progress details.")
def main(verbose: bool) -> None:
    """Reproducible crypto price forecasting with Toto and Kronos."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")


main.add_command(data)
main.add_command(monitor)


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
@DEVICE
def evaluate(params_path, symbol, stage, names, specs, device) -> None:
    """Evaluate candidates on the validation and test splits and print the key metrics."""
    params = load_and_configure(params_path, device)[0]
    section = params.get(stage, {}).get(symbol, {"reference": "naive", "candidates": {}})
    candidates = {k: v for k, v in section["candidates"].items() if not names or k in names}
    candidates.update(parse_spec(item) for item in specs)
    candidates.setdefault("naive", {"model": "naive"})
    reference = section["reference"] if section["reference"] in candidates else "naive"
    _print_evaluation(params, symbol, candidates, reference)


def parse_spec(item: str) -> tuple[str, dict]:
    """NAME=JSON of --spec: the name and the candidate's spec (a JSON object)."""
    name, sep, text = item.partition("=")
    example = 'e.g. toto8=\'{"model": "toto", "num_samples": 8}\''
    if not sep or not name:
        raise ValueError(f"--spec {item!r}: expected NAME=JSON, {example}")
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"--spec {name}: the part after '=' is not JSON ({err}); {example}"
                         ) from err
    if not isinstance(spec, dict):
        raise ValueError(f"--spec {name}: expected a JSON object, {example}")
    return name, spec


def _record_path(symbol: str, config: str) -> Path:
    path = Path(config)
    if not path.exists():
        raise click.UsageError(f"{path}: no config for {symbol}; run the pipeline (make all) "
                               "or pass --config with any hyperparams/ JSON")
    return path


def _record(symbol: str, config: str | None):
    path = _record_path(symbol, config or f"hyperparams/best/{symbol}.json")
    return read_record(path), path


@main.command()
@PARAMS
@click.argument("symbol")
@click.option("--config", default=None, type=click.Path(dir_okay=False),
              help="A hyperparams/ JSON (default: the selected hyperparams/best/SYMBOL.json).")
@click.option("--live", is_flag=True, help="Fetch the latest candles from the exchange (ccxt).")
@click.option("--exchange", default="binance", show_default=True, help="ccxt exchange for --live.")
@DEVICE
def forecast(params_path, symbol, config, live, exchange, device) -> None:
    """Forecast the next candle's close of SYMBOL with its 80% interval, from the latest
    prepared candles (or, with --live, the exchange's)."""
    from cryptocast.data.store import load_series, read_splits
    from cryptocast.tuning.production import forecast_next

    params = load_and_configure(params_path, device)[0]
    record, path = _record(symbol, config)
    interval = read_splits("data/prepared").interval
    if live:
        candles = fetch_recent(exchange, symbol, interval)
    else:
        candles = load_series("data/prepared", interval, symbol)
    result = forecast_next(record, candles, interval, "models", int(params["seed"]))
    last, predicted = result.prev_close[0], result.point[0]
    when = pd.Timestamp(result.timestamps[0])
    band = ""
    if result.samples is not None:
        lo, hi = (float(v) for v in np.quantile(result.samples[0], [0.1, 0.9]))
        band = f", 80% interval {lo:.6g} .. {hi:.6g}"
    name = record.selection["chosen"] if record.selection else record.model
    click.echo(f"{symbol} {interval} candle {when}: close {predicted:.6g}{band} (last "
               f"{last:.6g}, return {predicted / last - 1:+.3%}); {name} from {path}")
    risk_path = Path(f"hyperparams/best/{symbol}_risk.json")
    if config is None and risk_path.exists():
        risk = read_record(risk_path)
        samples = forecast_next(risk, candles, interval, "models", int(params["seed"])).samples
        returns = samples[0] / last - 1
        q = dict(zip(RISK_LEVELS, np.quantile(returns, RISK_LEVELS), strict=True))
        click.echo(f"risk ({risk.selection['chosen']} from {risk_path}): return quantiles "
                   + ", ".join(f"q{round(100 * k)} {v:+.2%}" for k, v in q.items()))
        click.echo(f"  80% interval {q[0.1]:+.2%} .. {q[0.9]:+.2%}; 95% interval "
                   f"{q[0.025]:+.2%} .. {q[0.975]:+.2%}; VaR95 {-q[0.05]:.2%}, "
                   f"VaR99 {-q[0.01]:.2%} of the position (long)")


RISK_LEVELS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975, 0.99)


@main.command()
@click.argument("symbol")
@click.option("--config", default=None, type=click.Path(dir_okay=False),
              help="A hyperparams/ JSON (default: hyperparams/best/SYMBOL_risk.json).")
def risk(symbol, config) -> None:
    """The backtest's Value-at-Risk of SYMBOL's risk config: per split, tail and level the
    exceedance rate against the expected one, with the Kupiec and Christoffersen verdicts
    (5%), and the coverage of the central intervals."""
    record = read_record(_record_path(symbol, config or f"hyperparams/best/{symbol}_risk.json"))
    name = record.selection["chosen"] if record.selection else record.model
    click.echo(f"{symbol}: {name} ({record.model})")
    for split in ("validation", "test"):
        block = getattr(record, split)
        click.echo(f"{split}: coverage " + ", ".join(
            f"{c}% {block[f'coverage_{c}']:.0%}" for c in (50, 80, 90, 95)))
        for level in (95, 99):
            for tail in ("lower", "upper"):
                stem = f"var{level}_{tail}"
                verdict = ", ".join(
                    f"{test} p {block[f'{stem}_{test}_p']:.2f} "
                    f"({'rejected' if block[f'{stem}_{test}_p'] < 0.05 else 'ok'})"
                    for test in ("kupiec", "christoffersen"))
                click.echo(f"  VaR{level} {tail}: exceeded {block[f'{stem}_exceedance']:.1%} "
                           f"of {block['n']} (expected {100 - level}%); {verdict}")


@main.command()
@PARAMS
@click.argument("symbol")
@DEVICE
def compare(params_path, symbol, device) -> None:
    """Toto vs Kronos (their default forecasters, models.<family>.forecaster) vs naive on the
    same validation and test windows."""
    params = load_and_configure(params_path, device)[0]
    models = params["models"]
    specs = {"toto": {"model": "toto", **models["toto"]["forecaster"]},
             "kronos": {"model": "kronos", **models["kronos"]["forecaster"]}}
    _print_evaluation(params, symbol, {**specs, "naive": {"model": "naive"}}, "naive")


@main.command("quick-eval")
@PARAMS
@click.argument("symbol")
@click.option("--config", required=True, type=click.Path(dir_okay=False),
              help="Any hyperparams/ JSON (an improved, sweep or best config).")
@DEVICE
def quick_eval(params_path, symbol, config, device) -> None:
    """Score one hyperparams/ config on SYMBOL's validation and test windows beside naive."""
    from cryptocast.data.store import read_splits
    from cryptocast.evaluation.evaluate import score_results
    from cryptocast.tuning.production import backtest_record

    params = load_and_configure(params_path, device)[0]
    record, _ = _record(symbol, config)
    if record.symbol != symbol:
        click.echo(f"note: {config} was tuned for {record.symbol}; scoring it on {symbol}")
    record = dataclasses.replace(record, symbol=symbol)
    cfg = EvalConfig.from_params(params)
    results = backtest_record(record, cfg, int(params["seed"]), "data/prepared", "models")
    naive = {split: dataclasses.replace(r, point=r.prev_close, samples=None,
                                        latency_s_per_forecast_batched=0.0, latency_s_single=0.0)
             for split, r in results.items()}
    metrics, _ = score_results({s: {"config": results[s], "naive": naive[s]} for s in results},
                               "naive", cfg, read_splits("data/prepared").interval,
                               int(params["seed"]))
    _print_metrics(metrics, "naive")


def _print_metrics(metrics, reference: str) -> None:
    columns = ["pct_return_mae", "skill_vs_naive", "dm_pvalue_vs_naive", "crps", "coverage_80",
               "latency_s_single"]
    for split, by_name in metrics.items():
        table = pd.DataFrame(by_name).T.reindex(columns=columns)
        click.echo(f"{split} (reference: {reference})")
        click.echo(table.to_string(float_format="{:.4g}".format))


def _print_evaluation(params, symbol: str, candidates: dict, reference: str) -> None:
    from cryptocast.evaluation.evaluate import evaluate_symbol

    metrics, _ = evaluate_symbol("data/prepared", "models", symbol, candidates, reference,
                                 EvalConfig.from_params(params), seed=int(params["seed"]))
    _print_metrics(metrics, reference)


@main.command()
@PARAMS
@click.option("--root", default=".", show_default=True, type=click.Path(file_okay=False),
              help="The checkout whose pipeline outputs to read.")
@click.option("--all", "show_all", is_flag=True, help="Every candidate, not just the summary.")
def report(params_path, root, show_all) -> None:
    """Print which configuration to run per symbol and what each plan item did."""
    from cryptocast.report import SUMMARY_COLUMNS, markdown_table, summary_rows, symbol_reports
    from cryptocast.report.tables import COLUMNS, candidate_row, selection_text

    try:
        params = load_params(params_path)
        reports = symbol_reports(baselines_from_params(params), family_defaults(params), root)
    except FileNotFoundError as err:
        raise click.UsageError(f"{err}; run the pipeline first (make all)") from err
    click.echo(markdown_table(SUMMARY_COLUMNS, summary_rows(reports)))
    for r in reports:
        click.echo(f"\n{r.symbol}: {selection_text(r.best).replace('**', '')}")
        for line in r.verdicts:
            click.echo(f"  {line.replace('**', '')}")
        if show_all:
            click.echo(markdown_table(COLUMNS, [candidate_row(c) for c in r.candidates]))


@main.group()
def train() -> None:
    """Checks before a long training run."""


@train.command("check")
@PARAMS
@click.option("--family", required=True, type=click.Choice(FAMILIES))
@click.option("--loss", default="nll", show_default=True,
              type=click.Choice(["nll", "huber", "heteroscedastic"]),
              help="Toto's loss (Kronos: token cross-entropy).")
@click.option("--steps", default=60, show_default=True, help="Steps on the one batch.")
@click.option("--lr", default=1e-3, show_default=True, help="Learning rate of the check.")
@click.option("--min-drop", default=0.3, show_default=True,
              help="Fail unless the loss falls by this share of its starting size.")
@DEVICE
def train_check(params_path, family, loss, steps, lr, min_drop, device) -> None:
    """Overfit one batch with the configured architecture and report each layer group's
    gradient norm; exit 1 if the loss does not fall (a configuration that cannot learn)."""
    from cryptocast.training.check import overfit_one_batch

    params = load_and_configure(params_path, device)[0]
    result = overfit_one_batch(family, ModelSettings.from_params(params, family).architecture,
                               loss, steps=steps, lr=lr)
    click.echo(f"{family}: loss {result['initial_loss']:.4f} -> {result['final_loss']:.4f} "
               f"in {steps} steps on one batch ({result['seconds']:.1f} s)")
    click.echo("gradient norm per layer group at the first step:")
    for group, norm in result["grad_norms"].items():
        flag = "  <- no gradient" if norm == 0 else ("  <- exploding" if norm > 1e3 else "")
        click.echo(f"  {group:<28} {norm:10.4g}{flag}")
    if result["relative_drop"] < min_drop:
        click.echo(f"FAILED: the loss fell by {result['relative_drop']:.0%} of its starting "
                   f"size, less than {min_drop:.0%}: this configuration does not learn")
        raise SystemExit(1)
    click.echo(f"ok: the loss fell by {result['relative_drop']:.0%}")


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
@DEVICE
def sweep_worker(params_path, storage, study_name, n_trials, heartbeat, grace, device) -> None:
    """Join a running sweep study and run its trials here until it is done."""
    from cryptocast.tuning.worker import run_worker

    done = run_worker(load_and_configure(params_path, device)[0], storage, study_name, n_trials,
                      heartbeat_interval=heartbeat, grace_period=grace)
    click.echo(f"{study_name}: {done} finished trials")

