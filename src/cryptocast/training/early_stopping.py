"""The fine-tuning loop both families share: epochs of optimiser steps, a validation loss per
epoch, early stopping with patience keeping the best epoch's weights, and an atomic resumable
state after every epoch (written by one process under torchrun)."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from cryptocast.training.common import (
    ResumableState,
    set_torch_rng_state,
    torch_rng_state,
    write_curve,
)


@dataclass(frozen=True)
class Schedule:
    name: str  # for progress bars and messages, e.g. "finetune toto"
    epochs: int
    steps_per_epoch: int
    patience: int


@dataclass
class Fit:
    best: dict[str, Any]  # epoch, val_loss, model (state dict)
    rows: list[dict[str, Any]]
    seconds: float


def fit(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
        step: Callable[[int, str], float], validate: Callable[[], float], schedule: Schedule,
        store: ResumableState, rng: np.random.Generator, curve: Path, rank: int = 0,
        base_loss: float | None = None) -> Fit:
    """Train with `step(global_step, where)` (returns the batch loss; `where` names the step
    for error messages) until `schedule.epochs` or `patience` epochs without a better
    `validate()`; resumes from `store` when it holds a state of the same run. With
    `base_loss` (the starting weights' validation loss) the start counts as epoch 0: when no
    epoch beats it, the starting weights are what comes back."""
    state = store.load() or {}
    rows, best = state.get("rows", []), state.get("best")
    if best is None and base_loss is not None:
        best = {"epoch": 0, "val_loss": base_loss, "model": copy.deepcopy(model.state_dict())}
    since_best, elapsed = state.get("since_best", 0), state.get("elapsed", 0.0)
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        rng.bit_generator.state = state["numpy_rng"]
        set_torch_rng_state(state["torch_rng"])
    for epoch in range(len(rows), schedule.epochs):
        if since_best >= schedule.patience:
            break
        started, losses = time.perf_counter(), []
        model.train()
        bar = tqdm(range(schedule.steps_per_epoch), desc=f"{schedule.name} epoch {epoch + 1}",
                   leave=False, mininterval=2.0)
        for i in bar:
            number = epoch * schedule.steps_per_epoch + i
            losses.append(step(number, f"step {number + 1} (epoch {epoch + 1})"))
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", refresh=False)
        val = validate()
        elapsed += time.perf_counter() - started
        rows.append({"epoch": epoch + 1, "train_loss": round(float(np.mean(losses)), 6),
                     "val_loss": round(val, 6)})
        if best is None or val < best["val_loss"]:
            best = {"epoch": epoch + 1, "val_loss": val,
                    "model": copy.deepcopy(model.state_dict())}
            since_best = 0
        else:
            since_best += 1
        if rank:  # one writer: rank 0
            continue
        write_curve(curve, rows)
        store.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "numpy_rng": rng.bit_generator.state, "torch_rng": torch_rng_state(),
                    "rows": rows, "best": best, "since_best": since_best, "elapsed": elapsed})
    model.load_state_dict(best["model"])
    return Fit(best, rows, elapsed)


def finite(loss: torch.Tensor, name: str, where: str) -> torch.Tensor:
    """`loss`, or a FloatingPointError naming the step: nothing is written after it."""
    if not torch.isfinite(loss):
        raise FloatingPointError(f"{name}: loss is {float(loss.detach())} at {where}; stopped "
                                 "before writing any state (lower the learning rate?)")
    return loss
