"""The prepare stage: validate every CSV, write parquet, fix the split dates, report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from cryptocast.config import DataConfig, SplitConfig
from cryptocast.data.candles import discover, read_candles
from cryptocast.data.schema import INTERVALS, RepairPolicy
from cryptocast.data.splits import compute_splits
from cryptocast.data.store import write_manifest, write_series
from cryptocast.io import write_json


def prepare(
    data_cfg: DataConfig,
    splits: SplitConfig,
    symbols: list[str],
    out_dir: str | Path,
    report_path: str | Path,
) -> dict[str, Any]:
    """Validate and store every series under `data_cfg.source_dir`; returns the manifest."""
    if splits.interval not in data_cfg.intervals:
        raise ValueError(
            f"params eval.interval {splits.interval!r} must be one of data.intervals "
            f"{data_cfg.intervals}"
        )
    policy = RepairPolicy.from_params(data_cfg.repair)
    found = discover(Path(data_cfg.source_dir), data_cfg.intervals)
    available = {(interval, symbol) for interval, symbol, _ in found}
    missing = [s for s in symbols if (splits.interval, s) not in available]
    if missing:
        raise FileNotFoundError(
            f"{data_cfg.source_dir}/{splits.interval}: no CSV for target symbol(s) {missing}"
        )
    series, reports, targets = [], [], {}
    for interval, symbol, path in tqdm(found, desc="prepare", unit="file"):
        candles, report = read_candles(path, interval, policy, symbol=symbol)
        write_series(out_dir, interval, symbol, candles)
        series.append({"interval": interval, "symbol": symbol, "rows": len(candles)})
        reports.append(report.to_dict())
        if interval == splits.interval and symbol in symbols:
            targets[symbol] = candles
    splits = compute_splits(
        targets,
        splits.interval,
        INTERVALS[splits.interval],
        splits.val_steps,
        splits.test_steps,
    )
    manifest = {
        "source_dir": str(data_cfg.source_dir),
        "splits": splits.to_dict(),
        "repair": data_cfg.repair,
        "series": series,
    }
    write_manifest(out_dir, manifest)
    write_json(report_path, {"splits": splits.to_dict(), "series": reports})
    return manifest
