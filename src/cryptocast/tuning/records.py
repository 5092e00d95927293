"""The one schema of every JSON file under hyperparams/: a configuration and its evidence.

A record holds the symbol, the model and its knobs, the validation and test metric blocks
(null until scored), the windows it was scored on, its provenance (checkpoint and data hashes,
cut dates, whether any model trained on the scored period), for a selected config the
selection metadata (the metric and every candidate's validation value), for a plan candidate
the plan item and its expected gain, and a note saying what was changed and why.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptocast.data.prepared import series_path
from cryptocast.data.splits import Splits
from cryptocast.io import read_json, write_json

SCHEMA_VERSION = 1
RECORD_KEYS = ("schema", "symbol", "model", "config", "validation", "test", "windows",
               "provenance", "selection", "plan", "note")


def sha256_of(paths: list[Path]) -> str:
    """SHA-256 over the bytes of `paths` (sorted; folders expanded to their files)."""
    files = sorted(f for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file())
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def windows_block(splits: Splits, horizon: int, n: dict[str, int]) -> dict[str, Any]:
    """The scored windows: interval, horizon, split dates and forecasts per split."""
    return {"interval": splits.interval, "horizon": horizon,
            "val_start": splits.val_start.isoformat(), "test_start": splits.test_start.isoformat(),
            "end": splits.end.isoformat(), "steps": n}


def provenance_block(families: str | Sequence[str], models_dir: str | Path,
                     prepared_dir: str | Path, symbol: str, splits: Splits) -> dict[str, Any]:
    """Hashes of the checkpoints of `families` (none for naive) and of the symbol's prepared
    candles, and the cut dates. Every checkpoint here trains on candles that close at or
    before the validation start, so none trained on a scored period."""
    families = [families] if isinstance(families, str) else list(families)
    folders = [Path(models_dir) / f for f in families if (Path(models_dir) / f).exists()]
    return {
        "checkpoints": sorted(p.name for p in folders),
        "checkpoint_sha256": sha256_of(folders) if folders else None,
        "data_sha256": sha256_of([series_path(prepared_dir, splits.interval, symbol)]),
        "train_cut": splits.val_start.isoformat(),
        "trained_on_scored_period": False,
    }


@dataclass
class Record:
    """A hyperparams/ JSON file. `config` holds the knobs, `model` included."""

    symbol: str
    model: str
    config: dict[str, Any]
    validation: dict[str, Any] | None = None
    test: dict[str, Any] | None = None
    windows: dict[str, Any] | None = None
    provenance: dict[str, Any] | None = None
    selection: dict[str, Any] | None = None
    plan: dict[str, Any] | None = None
    note: str | None = None
    schema: int = field(default=SCHEMA_VERSION)

    def __post_init__(self) -> None:
        if self.config.get("model") != self.model:
            raise ValueError(f"record {self.symbol}: config model {self.config.get('model')!r} "
                             f"!= model {self.model!r}")

    def write(self, path: str | Path) -> None:
        write_json(path, {key: asdict(self)[key] for key in RECORD_KEYS})


def read_record(path: str | Path) -> Record:
    """A hyperparams/ JSON file; errors name the file and the missing or unknown keys."""
    data = read_json(path)
    missing, unknown = set(RECORD_KEYS) - set(data), set(data) - set(RECORD_KEYS)
    if missing or unknown:
        raise ValueError(f"{path}: not a hyperparams record (missing {sorted(missing)}, "
                         f"unknown {sorted(unknown)})")
    if data["schema"] != SCHEMA_VERSION:
        raise ValueError(f"{path}: schema {data['schema']}, expected {SCHEMA_VERSION}")
    return Record(**data)
