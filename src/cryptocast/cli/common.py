"""Options and error handling shared by the command groups."""

from __future__ import annotations

import click
import pandas as pd

from cryptocast.data.fetch import fetch_candles
from cryptocast.data.schema import INTERVALS

# Closed candles a live forecast fetches: more than the longest context any config reads.
LIVE_CANDLES = 1100

PARAMS = click.option(
    "--params",
    "params_path",
    default="params.yaml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Pipeline params file.",
)


DEVICE = click.option("--device", default=None,
                      help="Overrides runtime.device: auto | cpu | cuda | cuda:N.")


class OneLineErrors(click.Group):
    """User mistakes (a bad param, a missing file, an unknown symbol) end with one line and
    exit 2, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (ValueError, FileNotFoundError) as err:
            raise click.UsageError(str(err)) from err


def fetch_recent(exchange: str, symbol: str, interval: str) -> pd.DataFrame:
    """The latest `LIVE_CANDLES` closed candles of `symbol` from the exchange (ccxt)."""
    since = pd.Timestamp.now(tz="UTC").tz_localize(None) - LIVE_CANDLES * INTERVALS[interval]
    return fetch_candles(exchange, symbol, interval, since, None)
