"""Candles from an exchange's public OHLCV API through ccxt (needs internet; tests use a fake)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from tqdm import tqdm

from cryptocast.data.schema import COLUMNS, CandleError, RepairPolicy, interval_delta
from cryptocast.data.validate import validate_candles

# Longest first, so that e.g. "FDUSD" wins over "USD".
QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "DAI", "USD", "EUR", "BTC", "ETH", "BNB")
# Pages overlapping is not a data problem; gaps are kept as the exchange reports them (logged).
FETCH_POLICY = RepairPolicy(gaps="drop", duplicates="keep_last", unsorted="sort",
                            invalid_rows="error", extra_columns="error")


def market_symbol(symbol: str) -> str:
    """ "BTCUSDT" -> "BTC/USDT" (ccxt's unified market symbol); "BTC/USDT" is kept as is."""
    if "/" in symbol:
        return symbol
    for quote in QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return f"{symbol[: -len(quote)]}/{quote}"
    raise ValueError(
        f"symbol: cannot split {symbol!r} into base/quote (known quotes: {', '.join(QUOTES)}); "
        "pass it as BASE/QUOTE"
    )


def make_exchange(exchange_id: str) -> Any:
    """A ccxt exchange instance with rate limiting on; clear error for an unknown id."""
    import ccxt  # imported here: loading ccxt's hundreds of exchange modules is slow

    cls = getattr(ccxt, exchange_id, None)
    if exchange_id not in ccxt.exchanges or cls is None:
        raise ValueError(f"exchange: unknown ccxt exchange id {exchange_id!r} (see ccxt.exchanges)")
    return cls({"enableRateLimit": True})


def _to_ms(ts: pd.Timestamp) -> int:
    ts = pd.Timestamp(ts)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return int(ts.value // 1_000_000)  # .value is always nanoseconds


def parse_ohlcv(rows: list[list[float]]) -> pd.DataFrame:
    """ccxt fetch_ohlcv rows [ms, open, high, low, close, volume] -> an (unvalidated) frame."""
    frame = pd.DataFrame(rows, columns=list(COLUMNS), dtype="float64")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"].astype("int64"), unit="ms")
    frame["timestamp"] = frame["timestamp"].astype("datetime64[ns]")
    return frame


def fetch_candles(
    exchange_id: str,
    symbol: str,
    interval: str,
    since: pd.Timestamp,
    until: pd.Timestamp | None = None,
    exchange: Any = None,
    limit: int = 1000,
    policy: RepairPolicy = FETCH_POLICY,
) -> pd.DataFrame:
    """Closed candles with open time in [since, until) from `exchange_id`, page by page.

    `until` defaults to the start of the current (still open) candle. `exchange` may be any
    object with ccxt's fetch_ohlcv(symbol, timeframe, since, limit); made from `exchange_id`
    when None. Returns the frame format of read_candles, validated with `policy`."""
    step_ms = int(interval_delta(interval).value // 1_000_000)
    if until is None:
        until = pd.Timestamp.now(tz="UTC").floor(interval_delta(interval))
    since_ms, until_ms = _to_ms(since), _to_ms(until)
    if since_ms >= until_ms:
        raise ValueError(f"since: {since} is not before until: {until}")
    if limit < 1:
        raise ValueError(f"limit: must be >= 1, got {limit}")
    exchange = exchange if exchange is not None else make_exchange(exchange_id)
    timeframes = getattr(exchange, "timeframes", None)
    if timeframes and interval not in timeframes:
        raise ValueError(f"interval: {exchange_id} has no {interval!r} candles")
    market = market_symbol(symbol)
    rows: list[list[float]] = []
    cursor = since_ms
    with tqdm(
        total=(until_ms - since_ms) // step_ms,
        unit="candle",
        disable=None,
        desc=f"{exchange_id} {market} {interval}",
    ) as bar:
        while cursor < until_ms:
            page = exchange.fetch_ohlcv(market, timeframe=interval, since=cursor, limit=limit)
            last = max((int(r[0]) for r in page), default=None)
            if last is None or last < cursor:  # no data at or after the cursor: done
                break
            rows += [r for r in page if since_ms <= r[0] < until_ms]
            bar.update((min(last + step_ms, until_ms) - cursor) // step_ms)
            cursor = last + step_ms
    source = f"{exchange_id} {market} {interval}"
    if not rows:
        raise CandleError(f"{source}: no candles between {since} and {until}")
    frame, _ = validate_candles(parse_ohlcv(rows), interval, policy, source=source, symbol=symbol)
    return frame
