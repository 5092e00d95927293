"""The prepared-data store: one parquet file per (interval, symbol) plus a manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from cryptocast.data.splits import Splits
from cryptocast.io import read_json, write_atomic, write_json

MANIFEST = "manifest.json"


def series_path(prepared_dir: str | Path, interval: str, symbol: str) -> Path:
    return Path(prepared_dir) / interval / f"{symbol}.parquet"


def write_series(
    prepared_dir: str | Path, interval: str, symbol: str, candles: pd.DataFrame
) -> Path:
    """Write validated candles as parquet, atomically."""
    path = series_path(prepared_dir, interval, symbol)
    write_atomic(path, lambda tmp: candles.to_parquet(tmp, index=False))
    return path


def load_series(prepared_dir: str | Path, interval: str, symbol: str) -> pd.DataFrame:
    """Prepared candles of one series; a clear error if the prepare stage did not write it."""
    path = series_path(prepared_dir, interval, symbol)
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no prepared candles for {symbol} at {interval}; "
            "is it in data.source_dir and did the prepare stage run?"
        )
    return pd.read_parquet(path)


def write_manifest(prepared_dir: str | Path, manifest: dict[str, Any]) -> None:
    write_json(Path(prepared_dir) / MANIFEST, manifest)


def read_manifest(prepared_dir: str | Path) -> dict[str, Any]:
    path = Path(prepared_dir) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; run the prepare stage first")
    return read_json(path)


def read_splits(prepared_dir: str | Path) -> Splits:
    """The split dates the prepare stage fixed for every series."""
    return Splits.from_dict(read_manifest(prepared_dir)["splits"])
