"""Pretraining of the model families on the broad corpus (fine-tuning comes later).

Each family's training module (`cryptocast.training.<family>`, loaded by name so a stage
depends on its own family's code only) provides the `PretrainingFamily` protocol.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from cryptocast.config import ModelSettings
from cryptocast.data.corpus import TrainingCorpus, load_training_corpus
from cryptocast.forecast.registry import FAMILIES
from cryptocast.models.folder import write_data_end
from cryptocast.training.hub import resolve_checkpoints


class PretrainingFamily(Protocol):
    """What `cryptocast.training.<family>` provides."""

    def import_official(self, checkpoint: Any, out_dir: Path) -> dict[str, float] | None:
        """Import the official checkpoint(s) named (None when none is: pretrain instead)."""

    def pretrain(self, corpus: TrainingCorpus, architecture: Mapping[str, Any],
                 train: Mapping[str, Any], out_dir: Path, plots_dir: Path, state_dir: Path,
                 seed: int) -> dict[str, float]:
        """Train the `architecture` on `corpus` with the settings `train` (params
        pretrain.<family>); returns the summary metrics."""


def pretraining(family: str) -> PretrainingFamily:
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; expected one of {FAMILIES}")
    return importlib.import_module(f"cryptocast.training.{family}")


def pretrain_family(family: str, model: ModelSettings, train: Mapping[str, Any],
                    symbols: list[str], seed: int, prepared_dir: str | Path,
                    out_dir: str | Path, plots_dir: str | Path, state_dir: str | Path
                    ) -> dict[str, Any]:
    """Train `family`'s base checkpoint into `out_dir` on `symbols`, or import the official
    one that `model.checkpoint` names; either way the folder records the end of its training
    data (`model.data_end` for an official one). Returns the summary metrics."""
    module = pretraining(family)
    Path(plots_dir).mkdir(parents=True, exist_ok=True)
    imported = module.import_official(resolve_checkpoints(model.checkpoint), Path(out_dir))
    if imported is not None:
        write_data_end(out_dir, model.data_end)
        return imported
    corpus = load_training_corpus(prepared_dir, symbols)
    summary = module.pretrain(corpus, model.architecture, train, Path(out_dir),
                              Path(plots_dir), Path(state_dir), seed)
    write_data_end(out_dir, corpus.val_start.isoformat())
    return summary
