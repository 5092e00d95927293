"""The prepare stage and the training corpus on a small CSV directory."""

import pandas as pd
import pytest
from conftest import make_candles
from tiny import data_config, split_config

from cryptocast.data.corpus import load_training_corpus
from cryptocast.data.prepare import prepare
from cryptocast.data.store import load_series, read_splits


def write_csv(frame: pd.DataFrame, path, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    out = frame.assign(timestamp=frame["timestamp"].dt.strftime(fmt))
    out.to_csv(path, index=False)


@pytest.fixture
def source(tmp_path):
    src = tmp_path / "ohlcv"
    write_csv(make_candles(100, seed=1), src / "1d" / "AAAUSDT.csv", "%Y-%m-%d")
    write_csv(make_candles(90, seed=2), src / "1d" / "BBBUSDT.csv", "%Y-%m-%d")
    hourly = make_candles(24 * 100, freq="1h", seed=3)
    write_csv(hourly, src / "1h" / "AAAUSDT.csv", "%Y-%m-%d %H:%M:%S")
    return src


def run_prepare(source, tmp_path, symbols=("AAAUSDT", "BBBUSDT")):
    data_cfg = data_config(source_dir=str(source), intervals=["1d", "1h"])
    eval_cfg = split_config(val_steps=10, test_steps=5)
    out = tmp_path / "prepared"
    manifest = prepare(data_cfg, eval_cfg, list(symbols), out, tmp_path / "report.json")
    return out, manifest


def test_prepare_writes_series_manifest_and_report(source, tmp_path):
    out, manifest = run_prepare(source, tmp_path)
    assert {(s["interval"], s["symbol"]) for s in manifest["series"]} == {
        ("1d", "AAAUSDT"),
        ("1d", "BBBUSDT"),
        ("1h", "AAAUSDT"),
    }
    splits = read_splits(out)
    # BBB ends on day 90 (2024-03-30): test = the last 5 days, validation the 10 before
    assert splits.end == pd.Timestamp("2024-03-30")
    assert splits.test_start == pd.Timestamp("2024-03-26")
    assert splits.val_start == pd.Timestamp("2024-03-16")
    pd.testing.assert_frame_equal(load_series(out, "1d", "AAAUSDT"), make_candles(100, seed=1))
    assert (tmp_path / "report.json").exists()


def test_training_corpus_ends_before_validation(source, tmp_path):
    out, _ = run_prepare(source, tmp_path)
    corpus = load_training_corpus(out, ["AAAUSDT"])
    for series in corpus.train:
        step = pd.Timedelta("1D") if series.interval == "1d" else pd.Timedelta("1h")
        assert series.candles["timestamp"].iloc[-1] + step <= corpus.val_start
    hourly = next(s for s in corpus.train if s.interval == "1h")
    assert hourly.candles["timestamp"].iloc[-1] == corpus.val_start - pd.Timedelta("1h")
    (validation,) = corpus.validation
    assert validation.candles["timestamp"].iloc[-1] == corpus.test_start - pd.Timedelta("1D")


def test_prepare_names_a_missing_target_symbol(source, tmp_path):
    with pytest.raises(FileNotFoundError, match="CCCUSDT"):
        run_prepare(source, tmp_path, symbols=("AAAUSDT", "CCCUSDT"))
