"""What fine-tuning both families shares: the dispatch by family, the process world under
torchrun, the learning-rate warm-up, and the base vs fine-tuned comparison on the evaluation
windows."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from cryptocast.data.prepared import load_series, read_splits
from cryptocast.evaluation.evaluate import backtest_candidates, metrics_for_dvc, score_results
from cryptocast.forecast.registry import build_forecaster
from cryptocast.training.early_stopping import Schedule

FAMILIES = ("toto", "kronos")


@dataclass(frozen=True)
class FinetuneParams:
    """What both families' `params.yaml finetune.<family>` hold (and `finetune.symbols`);
    each family's class adds its own knobs and may change these defaults."""

    SECTION: ClassVar[str] = "finetune"
    symbols: list[str] = field(default_factory=lambda: ["BTCUSDT", "ETHUSDT", "UNIUSDT",
                                                        "SOLUSDT"])
    epochs: int = 10
    steps_per_epoch: int = 100
    batch_size: int = 8
    lr: float = 1e-4  # AdamW, after a linear warm-up
    weight_decay: float = 0.01
    warmup_steps: int = 20
    grad_clip: float = 1.0
    patience: int = 3  # epochs without a better validation loss before stopping

    def __post_init__(self) -> None:
        for name in ("epochs", "steps_per_epoch", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"params {self.SECTION}.{name} must be >= 1")

    def schedule(self) -> Schedule:
        return Schedule(self.SECTION.replace(".", " "), self.epochs, self.steps_per_epoch,
                        self.patience)


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
