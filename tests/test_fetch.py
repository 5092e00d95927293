"""Exchange candle fetching: parsing and pagination on a recorded ccxt response, no network."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from tiny import section

from cryptocast.data.candles import CandleError, RepairPolicy, read_candles, write_candles_csv
from cryptocast.data.fetch import fetch_candles, make_exchange, market_symbol, parse_ohlcv

RECORDED = json.loads(
    (Path(__file__).parent / "fixtures" / "binance_btc_usdt_1h_ohlcv.json").read_text()
)
T0 = pd.Timestamp("2019-01-01 00:00")
HOUR_MS = 3_600_000


class FakeExchange:
    """Serves recorded candles like ccxt's fetch_ohlcv: those at or after `since`, `limit` max."""

    id = "binance"
    timeframes = {"1h": "1h", "1d": "1d"}

    def __init__(self, rows: list[list[float]]) -> None:
        self.rows = rows
        self.calls: list[tuple[str, str, int, int]] = []

    def fetch_ohlcv(self, symbol, timeframe="1m", since=None, limit=None, params=None):
        self.calls.append((symbol, timeframe, since, limit))
        return [list(r) for r in self.rows if r[0] >= since][:limit]


def test_market_symbol():
    assert market_symbol("BTCUSDT") == "BTC/USDT"
    assert market_symbol("ETHBTC") == "ETH/BTC"
    assert market_symbol("SOLFDUSD") == "SOL/FDUSD"
    assert market_symbol("UNI/USD") == "UNI/USD"
    with pytest.raises(ValueError, match="symbol: cannot split 'BTCXYZ'"):
        market_symbol("BTCXYZ")


def test_parse_recorded_response():
    df = parse_ohlcv(RECORDED)
    assert list(df.columns) == ["timestamp", "open", "high", "low", "close", "volume"]
    assert df["timestamp"].dtype == "datetime64[ns]"
    assert df["timestamp"].iloc[0] == T0
    assert df.iloc[0, 1:].tolist() == [3701.23, 3713.0, 3689.88, 3700.31, 686.36742]
    assert (df.dtypes.iloc[1:] == "float64").all()


def test_pagination_follows_the_last_candle():
    fake = FakeExchange(RECORDED)
    df = fetch_candles("binance", "BTCUSDT", "1h", T0, T0 + pd.Timedelta(hours=12),
                       exchange=fake, limit=3)
    pd.testing.assert_frame_equal(df, parse_ohlcv(RECORDED))
    start = int(T0.value // 1_000_000)
    # pages: 00-02, 03-04+06 (05 is the exchange gap), 07-09, then an empty page ends it
    assert [c[2] for c in fake.calls] == [start + h * HOUR_MS for h in (0, 3, 7, 10)]
    assert all(c[:2] == ("BTC/USDT", "1h") and c[3] == 3 for c in fake.calls)


def test_until_is_exclusive_and_stops_paging():
    fake = FakeExchange(RECORDED)
    df = fetch_candles("binance", "BTCUSDT", "1h", T0 + pd.Timedelta(hours=1),
                       pd.Timestamp("2019-01-01 03:00", tz="UTC"), exchange=fake, limit=1)
    assert df["timestamp"].dt.hour.tolist() == [1, 2]
    assert len(fake.calls) == 2


def test_default_until_fetches_everything_closed():
    df = fetch_candles("binance", "BTCUSDT", "1h", T0, exchange=FakeExchange(RECORDED))
    assert len(df) == len(RECORDED)


def test_overlapping_pages_are_deduplicated_and_gaps_logged(caplog):
    class Overlapping(FakeExchange):
        def fetch_ohlcv(self, symbol, timeframe="1m", since=None, limit=None, params=None):
            return super().fetch_ohlcv(symbol, timeframe, since - HOUR_MS, limit)

    with caplog.at_level("WARNING", logger="cryptocast.data.candles"):
        df = fetch_candles("binance", "BTCUSDT", "1h", T0 + pd.Timedelta(hours=1),
                           T0 + pd.Timedelta(hours=9), exchange=Overlapping(RECORDED), limit=4)
    assert df["timestamp"].dt.hour.tolist() == [1, 2, 3, 4, 6, 7, 8]
    assert "binance BTC/USDT 1h: left gaps unfilled (gaps: drop): 1 gap(s)" in caplog.text


def test_bad_candle_from_exchange_is_an_error():
    rows = [list(r) for r in RECORDED]
    rows[2][4] = None  # some exchanges send null for a missing close
    with pytest.raises(CandleError, match=r"binance BTC/USDT 1h: row 3 \(timestamp 2019-01-01 "
                       r"02:00:00\): missing value \(NaN\) in column 'close'"):
        fetch_candles("binance", "BTCUSDT", "1h", T0, T0 + pd.Timedelta(hours=9),
                      exchange=FakeExchange(rows))


def test_argument_errors():
    fake = FakeExchange(RECORDED)
    with pytest.raises(ValueError, match="since: .* is not before until"):
        fetch_candles("binance", "BTCUSDT", "1h", T0, T0, exchange=fake)
    with pytest.raises(ValueError, match="interval: binance has no '4h' candles"):
        fetch_candles("binance", "BTCUSDT", "4h", T0, exchange=fake)
    with pytest.raises(CandleError, match="no candles between"):
        fetch_candles("binance", "BTCUSDT", "1h", T0 + pd.Timedelta(days=9),
                      T0 + pd.Timedelta(days=10), exchange=fake)
    with pytest.raises(ValueError, match="exchange: unknown ccxt exchange id 'nope'"):
        make_exchange("nope")


def test_fetched_candles_write_in_the_shared_layout(tmp_path):
    df = fetch_candles("binance", "BTCUSDT", "1h", T0, T0 + pd.Timedelta(hours=9),
                       exchange=FakeExchange(RECORDED))
    path = tmp_path / "1h" / "BTCUSDT.csv"
    write_candles_csv(df, path, "1h")
    assert path.read_text().splitlines()[1] == (
        "2019-01-01 00:00:00,3701.23,3713.0,3689.88,3700.31,686.36742")
    back, report = read_candles(path, "1h", RepairPolicy(**section("data.repair", gaps="drop")))
    pd.testing.assert_frame_equal(back, df)
    assert (report.gaps, report.missing_candles) == (1, 1)
