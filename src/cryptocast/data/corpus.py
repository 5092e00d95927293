"""Training corpora cut at the validation start, for pretraining and fine-tuning."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cryptocast.data.schema import INTERVALS
from cryptocast.data.store import load_series, read_manifest, read_splits


@dataclass(frozen=True)
class SeriesFrame:
    """Candles of one symbol at one interval (timestamp = candle open time)."""

    symbol: str
    interval: str
    candles: pd.DataFrame


@dataclass(frozen=True)
class TrainingCorpus:
    """`train`: every prepared series, only candles that close at or before `val_start`.
    `validation`: the target symbols at the evaluation interval, candles before `test_start`;
    the validation targets are the candles with timestamp >= `val_start`."""

    train: list[SeriesFrame]
    validation: list[SeriesFrame]
    val_start: pd.Timestamp
    test_start: pd.Timestamp


def cut_before(candles: pd.DataFrame, interval: str, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Candles that close at or before `cutoff` (open time + interval <= cutoff)."""
    closes = candles["timestamp"] + INTERVALS[interval]
    return candles.loc[closes <= cutoff].reset_index(drop=True)


def load_training_corpus(prepared_dir: str | Path, symbols: list[str]) -> TrainingCorpus:
    """The broad pretraining corpus and the validation series, from the prepared store."""
    manifest = read_manifest(prepared_dir)
    splits = read_splits(prepared_dir)
    train = []
    for entry in manifest["series"]:
        candles = load_series(prepared_dir, entry["interval"], entry["symbol"])
        candles = cut_before(candles, entry["interval"], splits.val_start)
        if len(candles):
            train.append(SeriesFrame(entry["symbol"], entry["interval"], candles))
    validation = []
    for symbol in symbols:
        candles = load_series(prepared_dir, splits.interval, symbol)
        candles = candles.loc[candles["timestamp"] < splits.test_start].reset_index(drop=True)
        validation.append(SeriesFrame(symbol, splits.interval, candles))
    return TrainingCorpus(train, validation, splits.val_start, splits.test_start)
