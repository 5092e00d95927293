"""A simulated month of `cryptocast monitor`: the candle files cut `--days` candles before
their common end, then extended one candle per update, on a fresh SQLite ledger; then the
monitor report (docs/monitor-month/report.md). Needs the pipeline's production configs
(hyperparams/best/) and checkpoints (models/)."""

from __future__ import annotations

import shutil
from pathlib import Path

import click
from tqdm import tqdm

from cryptocast.cli import main as cryptocast
from cryptocast.cli.monitor import candle_source
from cryptocast.config import EvalConfig, load_params, symbols_from_params
from cryptocast.data.candles import write_candles_csv
from cryptocast.data.schema import INTERVALS


def run(args: list[str]) -> int:
    try:
        cryptocast.main(args, standalone_mode=False)
    except SystemExit as stop:
        return int(stop.code or 0)
    return 0


@click.command()
@click.option("--days", default=30, show_default=True, help="Candles in the simulated month.")
@click.option("--dest", default="build/monitor-month", show_default=True,
              type=click.Path(file_okay=False), help="The cut candles and the ledger.")
@click.option("--out", default="docs/monitor-month", show_default=True,
              type=click.Path(file_okay=False), help="Where the report goes.")
def simulate(days: int, dest: str, out: str) -> None:
    params = load_params()
    interval = EvalConfig.from_params(params).interval
    read = candle_source(params, interval, source_dir=None, live=False, exchange="")
    full = {s: read(s) for s in symbols_from_params(params)}
    end = min(frame["timestamp"].iloc[-1] for frame in full.values())
    dest_dir = Path(dest)
    shutil.rmtree(dest_dir, ignore_errors=True)
    ledger = f"sqlite:///{dest_dir / 'ledger.db'}"
    for k in tqdm(range(days, -1, -1), desc="simulated days"):
        cut = end - k * INTERVALS[interval]
        for symbol, frame in full.items():
            write_candles_csv(frame[frame["timestamp"] <= cut],
                              dest_dir / "ohlcv" / interval / f"{symbol}.csv", interval)
        if run(["monitor", "update", "--ledger", ledger, "--source-dir",
                str(dest_dir / "ohlcv")]):
            raise SystemExit(f"monitor update failed on the candles to {cut}")
    as_of = str(end + INTERVALS[interval])
    code = run(["monitor", "report", "--ledger", ledger, "--out", out, "--as-of", as_of])
    click.echo(f"wrote {out}/report.md (alerts: {'yes' if code else 'none'})")


if __name__ == "__main__":
    simulate()
