"""Pretraining of the model families on the broad corpus (fine-tuning comes later)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from cryptocast.config import EvalConfig, symbols_from_params
from cryptocast.data.corpus import load_training_corpus
from cryptocast.evaluation.evaluate import evaluate_symbol

FAMILIES = ("toto", "kronos")
# The naive-Gaussian benchmark of pipeline.md: zero mean, 30-candle rolling std.
NAIVE_GAUSSIAN = {"model": "naive_gaussian", "window": 30, "num_samples": 1000}


def pretrain_family(
    family: str,
    params: dict[str, Any],
    prepared_dir: str | Path,
    out_dir: str | Path,
    plots_dir: str | Path,
    state_dir: str | Path,
) -> dict[str, Any]:
    """Train `family`'s base checkpoint into `out_dir`, or import the official one that
    `models.<family>` names. Returns the summary metrics."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; expected one of {FAMILIES}")
    module = importlib.import_module(f"cryptocast.training.{family}")
    model_params = params["models"][family]
    Path(plots_dir).mkdir(parents=True, exist_ok=True)
    imported = module.import_official(model_params, Path(out_dir))
    if imported is not None:
        return imported
    corpus = load_training_corpus(prepared_dir, symbols_from_params(params))
    return module.pretrain(
        corpus,
        model_params,
        params["pretrain"][family],
        out_dir=Path(out_dir),
        plots_dir=Path(plots_dir),
        state_dir=Path(state_dir),
        seed=int(params["seed"]),
    )


def validation_report(
    family: str, params: dict[str, Any], prepared_dir: str | Path, models_dir: str | Path
) -> dict[str, dict[str, Any]]:
    """Validation-split scores of the family's default forecaster (the knobs in
    `models.<family>`) beside the naive-Gaussian forecast, per target symbol."""
    module = importlib.import_module(f"cryptocast.training.{family}")
    candidates = {
        family: {"model": family, **module.default_knobs(params["models"][family])},
        "naive_gaussian": NAIVE_GAUSSIAN,
    }
    cfg = EvalConfig.from_params(params)
    report = {}
    for symbol in symbols_from_params(params):
        metrics, _ = evaluate_symbol(
            prepared_dir,
            models_dir,
            symbol,
            candidates,
            "naive_gaussian",
            cfg,
            seed=int(params["seed"]),
            split_names=("validation",),
        )
        ours, naive = metrics["validation"][family], metrics["validation"]["naive_gaussian"]
        report[symbol] = {
            "crps": ours["crps"],
            "naive_gaussian_crps": naive["crps"],
            "crps_ratio": ours["crps"] / naive["crps"],
            "pct_return_mae": ours["pct_return_mae"],
            "naive_pct_return_mae": naive["pct_return_mae"],
            "coverage_80": ours["coverage_80"],
        }
    return report
