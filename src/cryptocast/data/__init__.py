"""Candles: reading and validation, exchange fetch, the prepared store, splits, corpora."""

from cryptocast.data.candles import discover, read_candles, write_candles_csv
from cryptocast.data.corpus import SeriesFrame, TrainingCorpus, load_training_corpus
from cryptocast.data.fetch import fetch_candles
from cryptocast.data.prepare import prepare
from cryptocast.data.schema import INTERVALS, CandleError, CandleReport, RepairPolicy
from cryptocast.data.splits import SPLITS, Splits, compute_splits
from cryptocast.data.store import load_series, read_splits

__all__ = [
    "INTERVALS",
    "SPLITS",
    "CandleError",
    "CandleReport",
    "RepairPolicy",
    "SeriesFrame",
    "Splits",
    "TrainingCorpus",
    "compute_splits",
    "discover",
    "fetch_candles",
    "load_series",
    "load_training_corpus",
    "prepare",
    "read_candles",
    "read_splits",
    "write_candles_csv",
]
