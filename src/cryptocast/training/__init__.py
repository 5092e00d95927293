"""Pretraining of the model families on the broad corpus (fine-tuning comes later)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from cryptocast.config import symbols_from_params
from cryptocast.data.corpus import load_training_corpus
from cryptocast.models.folder import write_data_end
from cryptocast.training.hub import resolve_checkpoints

FAMILIES = ("toto", "kronos")


def pretrain_family(
    family: str,
    params: dict[str, Any],
    prepared_dir: str | Path,
    out_dir: str | Path,
    plots_dir: str | Path,
    state_dir: str | Path,
) -> dict[str, Any]:
    """Train `family`'s base checkpoint into `out_dir`, or import the official one that
    `models.<family>` names; either way the folder records the end of its training data
    (`models.<family>.data_end` for an official one). Returns the summary metrics."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; expected one of {FAMILIES}")
    module = importlib.import_module(f"cryptocast.training.{family}")
    model_params = dict(params["models"][family])
    model_params["checkpoint"] = resolve_checkpoints(model_params.get("checkpoint"))
    Path(plots_dir).mkdir(parents=True, exist_ok=True)
    imported = module.import_official(model_params, Path(out_dir))
    if imported is not None:
        write_data_end(out_dir, model_params.get("data_end"))
        return imported
    corpus = load_training_corpus(prepared_dir, symbols_from_params(params))
    summary = module.pretrain(
        corpus,
        model_params,
        params["pretrain"][family],
        out_dir=Path(out_dir),
        plots_dir=Path(plots_dir),
        state_dir=Path(state_dir),
        seed=int(params["seed"]),
    )
    write_data_end(out_dir, corpus.val_start.isoformat())
    return summary

