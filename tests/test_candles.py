"""Candle CSV reading: one test per data problem (message names file, row, problem), repairs."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tiny import section

from cryptocast.data.candles import discover, read_candles, write_candles_csv
from cryptocast.data.schema import INTERVALS, CandleError, RepairPolicy

HEADER = "timestamp,open,high,low,close,volume"
GOOD = [
    "2024-01-01 00:00:00,10,12,9,11,100",
    "2024-01-01 01:00:00,11,13,10,12,200",
    "2024-01-01 02:00:00,12,14,11,13,300",
    "2024-01-01 03:00:00,13,15,12,14,400",
]
def policy(**repairs) -> RepairPolicy:
    """The params.yaml repair policy with `repairs` changed."""
    return RepairPolicy(**section("data.repair", **repairs))


STRICT = policy(gaps="error")


def write(tmp_path: Path, rows: list[str], header: str = HEADER, name: str = "BTCUSDT") -> Path:
    path = tmp_path / f"{name}.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def frame(rows: list[tuple]) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=["timestamp", "open", "high", "low", "close", "volume"])
    out["timestamp"] = pd.to_datetime(out["timestamp"]).astype("datetime64[ns]")
    return out.astype({c: "float64" for c in ["open", "high", "low", "close", "volume"]})


def fails(path: Path, message: str, policy: RepairPolicy = STRICT, interval: str = "1h") -> str:
    with pytest.raises(CandleError) as info:
        read_candles(path, interval, policy)
    text = str(info.value)
    assert text.startswith(f"{path}: "), text
    assert message in text, text
    return text


# ---------------------------------------------------------------- a clean file


def test_clean_file_round_trips_exactly(tmp_path):
    df, report = read_candles(write(tmp_path, GOOD), "1h", STRICT)
    expected = frame([
        ("2024-01-01 00:00", 10, 12, 9, 11, 100), ("2024-01-01 01:00", 11, 13, 10, 12, 200),
        ("2024-01-01 02:00", 12, 14, 11, 13, 300), ("2024-01-01 03:00", 13, 15, 12, 14, 400),
    ])
    pd.testing.assert_frame_equal(df, expected)
    assert isinstance(df.index, pd.RangeIndex)
    assert report.to_dict() == {
        "symbol": "BTCUSDT", "interval": "1h", "rows": 4,
        "start": "2024-01-01 00:00:00", "end": "2024-01-01 03:00:00",
        "gaps": 0, "missing_candles": 0, "repairs": [], "source": str(tmp_path / "BTCUSDT.csv"),
    }
    json.dumps(report.to_dict())


def test_daily_dates_and_epoch_milliseconds(tmp_path):
    day = write(tmp_path, ["2024-01-01,1,2,1,2,5", "2024-01-02,2,3,1,2,5"], name="D")
    df, _ = read_candles(day, "1d", STRICT)
    assert df["timestamp"].tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02")]
    ms = write(tmp_path, ["1704067200000,1,2,1,2,5", "1704070800000,2,3,1,2,5"], name="M")
    df, _ = read_candles(ms, "1h", STRICT)
    assert df["timestamp"].tolist() == [pd.Timestamp("2024-01-01 00:00"),
                                        pd.Timestamp("2024-01-01 01:00")]
    assert df["timestamp"].dtype == "datetime64[ns]"


# ---------------------------------------------------------------- structural problems


def test_missing_file(tmp_path):
    fails(tmp_path / "NOPE.csv", "file not found")


def test_empty_file(tmp_path):
    path = tmp_path / "BTCUSDT.csv"
    path.write_text("")
    fails(path, "empty file")


def test_header_only(tmp_path):
    fails(write(tmp_path, []), "no data rows (header only)")


def test_missing_column(tmp_path):
    header = "timestamp,open,high,low,volume"
    path = write(tmp_path, ["2024-01-01 00:00:00,10,12,9,100"], header=header)
    text = fails(path, "missing column(s) 'close'; expected timestamp,open,high,low,close,volume")
    assert "(found timestamp,open,high,low,volume)" in text


def test_extra_column_is_an_error_by_default(tmp_path):
    path = write(tmp_path, [r + ",7" for r in GOOD], header=HEADER + ",trades")
    fails(path, "unexpected column(s) 'trades'")


def test_extra_column_ignored_by_policy_is_logged(tmp_path, caplog):
    path = write(tmp_path, [r + ",7" for r in GOOD], header=HEADER + ",trades")
    with caplog.at_level(logging.WARNING, logger="cryptocast.data.candles"):
        df, report = read_candles(path, "1h", policy(extra_columns="ignore"))
    assert list(df.columns) == ["timestamp", "open", "high", "low", "close", "volume"]
    assert report.repairs == ["ignored extra column(s) 'trades'"]
    assert "ignored extra column(s) 'trades'" in caplog.text


def test_empty_line_inside_the_data(tmp_path):
    fails(write(tmp_path, [GOOD[0], "", GOOD[1]]), "row 2 (timestamp ?): empty line")


def test_trailing_empty_lines_are_not_data(tmp_path):
    df, report = read_candles(write(tmp_path, [*GOOD, "", ""]), "1h", STRICT)
    assert len(df) == 4 and report.repairs == []


def test_malformed_csv_row(tmp_path):
    fails(write(tmp_path, [GOOD[0], GOOD[1] + ",1,2"]), "malformed CSV")


# ---------------------------------------------------------------- timestamps


def test_unparsable_timestamp_names_row_and_raw_value(tmp_path):
    path = write(tmp_path, [GOOD[0], GOOD[1], "2024-13-45 02:00:00,12,14,11,13,300"])
    fails(path, "row 3 (timestamp 2024-13-45 02:00:00): unparsable timestamp '2024-13-45 02:00:00'")


def test_missing_timestamp(tmp_path):
    fails(write(tmp_path, [GOOD[0], ",11,13,10,12,200"]), "row 2 (timestamp ?): missing timestamp")


def test_misaligned_timestamp(tmp_path):
    path = write(tmp_path, [GOOD[0], "2024-01-01 01:30:00,11,13,10,12,200"])
    fails(path, "row 2 (timestamp 2024-01-01 01:30:00): timestamp not aligned to the 1h interval")


def test_duplicate_timestamp_names_both_rows(tmp_path):
    path = write(tmp_path, [GOOD[0], GOOD[1], "2024-01-01 01:00:00,11,13,10,12.5,250", GOOD[2]])
    fails(path, "row 3 (timestamp 2024-01-01 01:00:00): duplicate timestamp, same as row 2")


def test_unsorted_names_the_row_where_order_breaks(tmp_path):
    path = write(tmp_path, [GOOD[0], GOOD[2], GOOD[1], GOOD[3]])
    fails(path, "row 3 (timestamp 2024-01-01 01:00:00): timestamps not in ascending order: "
                "earlier than row 2 (2024-01-01 02:00:00)")


# ---------------------------------------------------------------- values


def test_unparsable_number(tmp_path):
    path = write(tmp_path, [GOOD[0], "2024-01-01 01:00:00,11,13,10,abc,200"])
    fails(path, "row 2 (timestamp 2024-01-01 01:00:00): unparsable number 'abc' in column 'close'")


def test_nan_names_row_and_column(tmp_path):
    path = write(tmp_path, [GOOD[0], "2024-01-01 01:00:00,11,,10,12,200", GOOD[2]])
    fails(path, "row 2 (timestamp 2024-01-01 01:00:00): missing value (NaN) in column 'high' "
                "(1 invalid row(s) in total)")


def test_non_positive_price_names_column_and_value(tmp_path):
    path = write(tmp_path, [GOOD[0], GOOD[1], "2024-01-01 02:00:00,12,14,-1,13,300"])
    fails(path, "row 3 (timestamp 2024-01-01 02:00:00): non-positive price in column 'low': -1.0")


def test_negative_volume(tmp_path):
    path = write(tmp_path, [GOOD[0], "2024-01-01 01:00:00,11,13,10,12,-5"])
    fails(path, "row 2 (timestamp 2024-01-01 01:00:00): negative volume: -5.0")


def test_high_below_low(tmp_path):
    path = write(tmp_path, [GOOD[0], "2024-01-01 01:00:00,11,9,10,12,200"])
    fails(path, "row 2 (timestamp 2024-01-01 01:00:00): high 9.0 < low 10.0")


def test_open_outside_low_high(tmp_path):
    path = write(tmp_path, [GOOD[0], "2024-01-01 01:00:00,14,13,10,12,200"])
    fails(path, "row 2 (timestamp 2024-01-01 01:00:00): open 14.0 outside [low 10.0, high 13.0]")


def test_close_outside_low_high(tmp_path):
    path = write(tmp_path, [GOOD[0], GOOD[1], GOOD[2], "2024-01-01 03:00:00,13,15,12,11.5,400"])
    fails(path, "row 4 (timestamp 2024-01-01 03:00:00): close 11.5 outside [low 12.0, high 15.0]")


def test_first_invalid_row_reported_with_total(tmp_path):
    path = write(tmp_path, [GOOD[0], "2024-01-01 01:00:00,0,13,10,12,200",
                            "2024-01-01 02:00:00,12,14,11,,300"])
    fails(path, "row 2 (timestamp 2024-01-01 01:00:00): non-positive price in column 'open': 0.0; "
                "open 0.0 outside [low 10.0, high 13.0] (2 invalid row(s) in total)")


# ---------------------------------------------------------------- gaps


GAPPY = [
    GOOD[0], GOOD[1], "2024-01-01 04:00:00,14,16,13,15,500", "2024-01-01 06:00:00,15,17,14,16,600"
]


def test_gap_error_names_first_gap_and_totals(tmp_path):
    fails(write(tmp_path, GAPPY), "row 2 (timestamp 2024-01-01 01:00:00): gap of 2 missing 1h "
          "candle(s) before row 3 (2024-01-01 04:00:00); 2 gap(s), 3 missing candle(s) in total")


def test_gap_forward_fill_exact_frame(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="cryptocast.data.candles"):
        df, report = read_candles(write(tmp_path, GAPPY), "1h", policy())
    expected = frame([
        ("2024-01-01 00:00", 10, 12, 9, 11, 100), ("2024-01-01 01:00", 11, 13, 10, 12, 200),
        ("2024-01-01 02:00", 12, 12, 12, 12, 0), ("2024-01-01 03:00", 12, 12, 12, 12, 0),
        ("2024-01-01 04:00", 14, 16, 13, 15, 500), ("2024-01-01 05:00", 15, 15, 15, 15, 0),
        ("2024-01-01 06:00", 15, 17, 14, 16, 600),
    ])
    pd.testing.assert_frame_equal(df, expected)
    assert (report.rows, report.gaps, report.missing_candles) == (7, 2, 3)
    assert len(report.repairs) == 1 and report.repairs[0].startswith("forward-filled gaps")
    assert "longest 2 candle(s) after 2024-01-01 01:00:00" in report.repairs[0]
    assert "forward-filled gaps" in caplog.text


def test_gap_drop_leaves_missing_candles_out(tmp_path):
    df, report = read_candles(write(tmp_path, GAPPY), "1h", policy(gaps="drop"))
    assert df["timestamp"].dt.hour.tolist() == [0, 1, 4, 6]
    assert (report.rows, report.gaps, report.missing_candles) == (4, 2, 3)
    assert report.repairs[0].startswith("left gaps unfilled (gaps: drop): 2 gap(s)")


# ---------------------------------------------------------------- other repairs


DUPS = [GOOD[0], GOOD[1], "2024-01-01 01:00:00,11,13,10,12.5,250", GOOD[2]]


@pytest.mark.parametrize("keep,close", [("keep_first", 12.0), ("keep_last", 12.5)])
def test_duplicate_repairs_keep_the_chosen_row(tmp_path, keep, close):
    df, report = read_candles(write(tmp_path, DUPS), "1h", policy(duplicates=keep))
    assert df["close"].tolist() == [11.0, close, 13.0]
    assert df["timestamp"].is_monotonic_increasing and len(df) == 3
    assert report.repairs == [
        f"dropped 1 row(s) with a duplicate timestamp, kept the {keep[5:]} of each "
        "(first: rows 2 and 3; 1 group(s) with differing values)"
    ]


def test_sort_repair(tmp_path):
    df, report = read_candles(write(tmp_path, [GOOD[3], GOOD[0], GOOD[2], GOOD[1]]), "1h",
                              policy(unsorted="sort"))
    expected, _ = read_candles(write(tmp_path, GOOD, name="OK"), "1h", STRICT)
    pd.testing.assert_frame_equal(df, expected)
    assert report.repairs == ["sorted rows by timestamp (2 out of order, first at row 2)"]


def test_invalid_rows_drop_then_gap_fill(tmp_path):
    rows = [GOOD[0], "2024-01-01 01:00:00,11,9,10,12,200", GOOD[2], GOOD[3]]
    df, report = read_candles(write(tmp_path, rows), "1h", policy(invalid_rows="drop"))
    expected = frame([
        ("2024-01-01 00:00", 10, 12, 9, 11, 100), ("2024-01-01 01:00", 11, 11, 11, 11, 0),
        ("2024-01-01 02:00", 12, 14, 11, 13, 300), ("2024-01-01 03:00", 13, 15, 12, 14, 400),
    ])
    pd.testing.assert_frame_equal(df, expected)
    assert report.repairs[0] == "dropped 1 invalid row(s): rows 2"
    assert (report.gaps, report.missing_candles) == (1, 1)


def test_all_rows_invalid_is_an_error_even_with_drop(tmp_path):
    path = write(tmp_path, ["2024-01-01 00:00:00,10,9,11,10,1"])
    fails(path, "every row is invalid", policy(invalid_rows="drop"))


def test_policy_from_params_validates_keys_and_values():
    assert RepairPolicy.from_params(section("data.repair", gaps="drop")) == policy(gaps="drop")
    with pytest.raises(ValueError, match=r"params data.repair: missing keys \['duplicates'"):
        RepairPolicy.from_params({"gaps": "drop"})
    with pytest.raises(ValueError, match=re.escape(
            "repair policy 'gaps': 'fill' is not one of error, forward_fill, drop")):
        RepairPolicy.from_params(section("data.repair", gaps="fill"))
    with pytest.raises(ValueError, match=r"params data.repair: unknown keys \['gap'\]; known: "):
        RepairPolicy.from_params(section("data.repair", gap="drop"))


def test_unknown_interval_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="interval: '7h' is not one of 1m"):
        read_candles(write(tmp_path, GOOD), "7h", STRICT)
    assert INTERVALS["4h"] == pd.Timedelta(hours=4)


# ---------------------------------------------------------------- discovery and writing


def test_discover(tmp_path):
    for interval, symbol in [("1h", "BTCUSDT"), ("1h", "ETHUSDT"), ("1d", "BTCUSDT")]:
        (tmp_path / interval).mkdir(exist_ok=True)
        (tmp_path / interval / f"{symbol}.csv").write_text(HEADER + "\n")
    (tmp_path / "notes").mkdir()
    assert [(i, s) for i, s, _ in discover(tmp_path)] == [
        ("1d", "BTCUSDT"), ("1h", "BTCUSDT"), ("1h", "ETHUSDT")]
    found = discover(tmp_path, ["1h"], ["ETHUSDT"])
    assert found == [("1h", "ETHUSDT", tmp_path / "1h" / "ETHUSDT.csv")]
    with pytest.raises(CandleError, match="no candles for symbol 'ETHUSDT' at 1d"):
        discover(tmp_path, ["1d"], ["ETHUSDT"])
    with pytest.raises(CandleError, match="no candle directory for interval '4h' \\(found: 1d, 1h"):
        discover(tmp_path, ["4h"])
    with pytest.raises(CandleError, match="data.source_dir .* is not a directory"):
        discover(tmp_path / "missing")


@pytest.mark.parametrize("interval,given", [("1d", "1d"), ("1d", None), ("1h", "1h"), ("1h", None)])
def test_write_csv_round_trip_and_layout(tmp_path, interval, given):
    start = pd.Timestamp("2024-01-01")
    ts = pd.date_range(start, periods=3, freq=INTERVALS[interval])
    df = frame([(t, 1.5, 2.25, 1.0, 2.0, 1e-3 + i) for i, t in enumerate(ts)])
    path = tmp_path / interval / "X.csv"
    write_candles_csv(df, path, given)
    lines = path.read_text().splitlines()
    assert lines[0] == HEADER
    first = "2024-01-01" if interval == "1d" else "2024-01-01 00:00:00"
    assert lines[1] == f"{first},1.5,2.25,1.0,2.0,0.001"
    back, _ = read_candles(path, interval, STRICT)
    pd.testing.assert_frame_equal(back, df)
    assert not list(path.parent.glob(".*.tmp"))


def test_vectorised_validation_is_fast_enough(tmp_path):
    n = 60_000
    ts = pd.date_range("2019-01-01", periods=n, freq="1h")
    close = 100 + np.cumsum(np.random.default_rng(0).normal(0, 0.1, n))
    df = frame(list(zip(ts, close, close + 1, close - 1, close, np.ones(n), strict=True)))
    write_candles_csv(df, tmp_path / "BIG.csv", "1h")
    back, report = read_candles(tmp_path / "BIG.csv", "1h", STRICT)
    assert report.rows == n and report.gaps == 0
    np.testing.assert_allclose(back["close"].to_numpy(), close, rtol=1e-12)
