"""What fine-tuning both families shares: the dispatch by family, the process world under
torchrun, the learning-rate warm-up, and the base vs fine-tuned comparison on the evaluation
windows."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import torch

FAMILIES = ("toto", "kronos")


def finetune_family(family: str, corpus, base_dir: str | Path, train_params: dict[str, Any],
                    out_dir: str | Path, plots_dir: str | Path, state_dir: str | Path,
                    seed: int) -> dict[str, Any]:
    """Fine-tune `family` (training/finetune_<family>.py); returns the training summary."""
    if family not in FAMILIES:
        raise ValueError(f"finetune: family must be one of {list(FAMILIES)}, got {family!r}")
    module = importlib.import_module(f"cryptocast.training.finetune_{family}")
    return getattr(module, f"finetune_{family}")(corpus, base_dir, train_params, out_dir,
                                                  plots_dir, state_dir, seed)


def world() -> tuple[int, int]:
    """(rank, world size) under `torchrun` (torch.distributed initialised), else (0, 1)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def warmup_lr(step: int, lr: float, warmup_steps: int) -> float:
    """Linear warm-up to `lr`, then constant (fine-tuning is short; early stopping ends it)."""
    return lr * (step + 1) / warmup_steps if step < warmup_steps else lr


def compare_checkpoints(family: str, knobs: dict[str, Any], symbols: list[str],
                        prepared_dir: str | Path, base_models: str | Path,
                        finetuned_models: str | Path, cfg, seed: int) -> dict[str, Any]:
    """Base vs fine-tuned checkpoint with the same forecaster knobs, on the same validation and
    test windows of every symbol: metrics of both, the fine-tuned one's DM p-value and MAE
    difference interval against the base, and naive."""
    from cryptocast.data.prepared import load_series, read_splits
    from cryptocast.evaluation.evaluate import backtest_candidates, metrics_for_dvc, score_results
    from cryptocast.forecast.registry import build_forecaster

    splits = read_splits(prepared_dir)
    spec = {"model": family, **knobs}
    report = {}
    for symbol in symbols:
        candles = load_series(prepared_dir, splits.interval, symbol)
        forecasters = {"base": build_forecaster("base", spec, base_models, seed),
                       "finetuned": build_forecaster("finetuned", spec, finetuned_models, seed),
                       "naive": build_forecaster("naive", {"model": "naive"}, base_models, seed)}
        results = backtest_candidates(candles, symbol, splits, forecasters, cfg)
        metrics, _ = score_results(results, "base", cfg, splits.interval, seed)
        report[symbol] = metrics_for_dvc(metrics)
    return report
