"""The one schema of every JSON file under hyperparams/: a configuration and its evidence.

A record holds the symbol, the model and its knobs, the validation and test metric blocks
(null until scored), the windows it was scored on, its provenance (checkpoint and data hashes,
the checkpoints' training data end, whether any model trained on the scored period), for a
selected config the selection metadata (the gate and every candidate's validation value),
for a plan candidate the plan item and its expected gain, and a note saying what was changed
and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cryptocast.data.splits import Splits
from cryptocast.data.store import series_path
from cryptocast.io import read_json, sha256_of, write_json
from cryptocast.models.folder import UNKNOWN, read_data_end

SCHEMA_VERSION = 1
RECORD_KEYS = ("schema", "symbol", "model", "config", "validation", "test", "windows",
               "provenance", "selection", "plan", "note")


def windows_block(splits: Splits, horizon: int, n: dict[str, int]) -> dict[str, Any]:
    """The scored windows: interval, horizon, split dates and forecasts per split."""
    return {"interval": splits.interval, "horizon": horizon,
            "val_start": splits.val_start.isoformat(), "test_start": splits.test_start.isoformat(),
            "end": splits.end.isoformat(), "steps": n}


def provenance_block(checkpoints: Sequence[str | Path], prepared_dir: str | Path,
                     symbol: str, splits: Splits) -> dict[str, Any]:
    """Hashes of the checkpoint folders a config runs on (none for naive) and of the symbol's
    prepared candles, each checkpoint's recorded end of training data, and whether any of
    them trained on a scored period (after the validation start; "unknown" when a
    checkpoint's data end is not known)."""
    folders = [Path(p) for p in checkpoints]
    missing = [str(p) for p in folders if not p.exists()]
    if missing:
        raise FileNotFoundError(f"no checkpoint folder {missing}")
    ends = [read_data_end(p) for p in folders]
    if UNKNOWN in ends:
        trained: bool | str = UNKNOWN
    else:
        trained = any(pd.Timestamp(end) > splits.val_start for end in ends)
    return {
        "checkpoints": [str(p) for p in folders],
        "checkpoint_sha256": sha256_of(folders) if folders else None,
        "checkpoint_data_end": ends,
        "data_sha256": sha256_of([series_path(prepared_dir, splits.interval, symbol)]),
        "scored_from": splits.val_start.isoformat(),
        "trained_on_scored_period": trained,
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
