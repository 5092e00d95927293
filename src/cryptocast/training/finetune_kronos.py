"""finetune@kronos (plan 3.2): the base predictor trained further on crypto symbols' training
split with early stopping on validation cross-entropy; optionally the tokenizer first (off by
default), with its close round trip reported before and after. Windows are normalised on
their lookback only: the reference fine-tuning normalised over lookback and target."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from cryptocast.config import from_mapping
from cryptocast.data.corpus import TrainingCorpus
from cryptocast.models.kronos import load_checkpoint, save_checkpoint
from cryptocast.runtime import autocast
from cryptocast.training.common import (
    ResumableState,
    lr_at,
    optimizer_step,
    seed_everything,
    set_torch_rng_state,
    torch_rng_state,
)
from cryptocast.training.early_stopping import Fit, finite, fit
from cryptocast.training.finetune import FinetuneParams, World, set_dropout, shared
from cryptocast.training.kronos import (
    predictor_loss,
    predictor_val_ce,
    tokenizer_close_errors,
    tokenizer_loss,
    validation_tokens,
)
from cryptocast.training.kronos_windows import WindowSampler, validation_windows


@dataclass(frozen=True)
class KronosFinetuneParams(FinetuneParams):
    """params.yaml `finetune.kronos` (and `finetune.symbols`)."""

    SECTION: ClassVar[str] = "finetune.kronos"
    epochs: int
    steps_per_epoch: int
    batch_size: int
    window: int  # longest window (lookback + the target candle)
    min_window: int
    clip: float
    tokenizer_steps: int  # 0: the tokenizer stays as it is
    tokenizer_lr: float

    def __post_init__(self) -> None:
        if not 3 <= self.min_window <= self.window:
            raise ValueError("params finetune.kronos: need 3 <= min_window <= window")
        super().__post_init__()


def _batch(sampler: WindowSampler, rng: np.random.Generator, params: KronosFinetuneParams,
           rows: slice, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """This process's `rows` of a global batch (every process draws the same one)."""
    length = int(rng.integers(params.min_window, params.window + 1))
    x, stamp = sampler.sample(rng, params.batch_size, length, lookback=length - 1)
    return x[rows].to(device), stamp[rows].to(device)


def _tune_tokenizer(tokenizer, sampler, rng, params: KronosFinetuneParams,
                    world: World) -> None:
    """Every process takes the same full-batch steps (the tokenizer is small and its loss
    does not run through forward()); rank 0's weights are then broadcast, so every process
    tokenises alike."""
    optimizer = torch.optim.AdamW(tokenizer.parameters(), lr=params.tokenizer_lr,
                                  weight_decay=params.weight_decay)
    tokenizer.train()
    for number in range(params.tokenizer_steps):
        x = _batch(sampler, rng, params, slice(None), world.device)[0]
        with autocast(world.device):
            loss = tokenizer_loss(tokenizer, x)[0]
        loss = finite(loss, "finetune kronos tokenizer", f"step {number + 1}")
        optimizer_step(optimizer, loss, params.tokenizer_lr, params.grad_clip)
    world.broadcast(tokenizer)
    tokenizer.eval()


def _tuned_tokenizer(tokenizer, sampler, rng, params: KronosFinetuneParams, world: World,
                     val, base_scores: dict | None) -> dict[str, Any]:
    """The tokenizer after `_tune_tokenizer`, with its validation round trip and tokens and
    the random states after it. The grid's configurations that differ only in predictor
    settings tune the same tokenizer from the same draws, so a search tunes it once (kept in
    `base_scores` under the settings it reads); `rng` and torch's generator continue from the
    states after it either way."""
    key = ("kronos tokenizer", params.tokenizer_steps, params.tokenizer_lr, params.weight_decay,
           params.grad_clip, params.batch_size, params.window, params.min_window, params.clip,
           tuple(params.symbols))

    def tune() -> dict[str, Any]:
        _tune_tokenizer(tokenizer, sampler, rng, params, world)
        return {"state": {k: v.clone() for k, v in tokenizer.state_dict().items()},
                "rng": rng.bit_generator.state, "torch_rng": torch_rng_state(),
                "round_trip": tokenizer_close_errors(tokenizer, val),
                "tokens": validation_tokens(tokenizer, val)}

    tuned = shared(base_scores, key, tune)
    tokenizer.load_state_dict(tuned["state"])
    tokenizer.eval()
    rng.bit_generator.state = tuned["rng"]
    set_torch_rng_state(tuned["torch_rng"])
    return tuned


def finetune(corpus: TrainingCorpus, base_dir: str | Path, train_params: dict[str, Any],
             out_dir: str | Path, curve: str | Path, state_dir: str | Path, seed: int,
             base_scores: dict | None = None) -> dict[str, Any]:
    """Fine-tune `base_dir`/{tokenizer,predictor} on `corpus`; keep the epoch with the best
    validation cross-entropy in `out_dir`/{tokenizer,predictor}, the loss per epoch in
    `curve`. The summary's `criterion` is that cross-entropy (`base_criterion`: the base
    tokenizer and predictor's); `admissible` is false when a tuned tokenizer reconstructs the
    validation closes worse than the base's (its tokens then differ, and their cross-entropy
    does not compare): such a run stops after the tokenizer, its `criterion` None. Runs on
    the process's device (`runtime.device`); under `torchrun` each process trains the
    predictor on its slice of the global batch (DDP)."""
    out_dir = Path(out_dir)
    params = from_mapping(KronosFinetuneParams, train_params, "params finetune.kronos")
    world = World.current()
    rows = world.rows(params.batch_size, "finetune.kronos")
    seed_everything(seed)
    tokenizer, predictor = (m.to(world.device) for m in load_checkpoint(base_dir))
    rng = np.random.default_rng(seed)
    reference = tokenizer.config.price_reference
    sampler = WindowSampler([f for f in corpus.train if f.symbol in params.symbols],
                            params.window, params.clip, reference)
    val = [validation_windows(f, corpus.val_start, params.window, params.clip, reference)
           for f in corpus.validation]
    tokens = shared(base_scores, ("kronos tokens", params.window, params.clip),
                    lambda: validation_tokens(tokenizer, val))
    round_trip_before, base_criterion = shared(
        base_scores, ("kronos", params.window, params.clip),
        lambda: (tokenizer_close_errors(tokenizer, val), predictor_val_ce(predictor, tokens)))
    round_trip_after, base_ce = round_trip_before, base_criterion
    if params.tokenizer_steps:  # the base predictor on the tuned tokenizer's tokens
        tuned = _tuned_tokenizer(tokenizer, sampler, rng, params, world, val, base_scores)
        round_trip_after, tokens = tuned["round_trip"], tuned["tokens"]
        if not _no_worse(round_trip_after, round_trip_before):
            # inadmissible whatever the predictor learns: its training would be discarded
            return _summary(params, base_criterion, None, None, round_trip_before,
                            round_trip_after)
        base_ce = predictor_val_ce(predictor, tokens)
    tokenizer.requires_grad_(False)
    set_dropout(predictor, params.dropout)
    optimizer = torch.optim.AdamW(predictor.parameters(), lr=params.lr,
                                  weight_decay=params.weight_decay)
    net = world.wrap(predictor)
    store = ResumableState(state_dir, {"params": asdict(params), "seed": seed,
                                       "base": str(base_dir), "val_start": str(corpus.val_start),
                                       "tokenizer": {k: v.sum().item() for k, v in
                                                     tokenizer.state_dict().items()}})

    def step(number: int, where: str) -> float:
        x, stamp = _batch(sampler, rng, params, rows, world.device)
        with autocast(world.device):
            s1, s2 = tokenizer.encode(x)
            loss = predictor_loss(net, s1, s2, stamp)
        loss = finite(loss, "finetune kronos", where)
        return optimizer_step(optimizer, loss, lr_at(number, params.lr, params.warmup_steps),
                              params.grad_clip)

    result = fit(predictor, optimizer, step, lambda: predictor_val_ce(predictor, tokens),
                 params.schedule(), store, rng, Path(curve), world.rank, base_loss=base_ce)
    if world.rank == 0:
        save_checkpoint(tokenizer, out_dir / "tokenizer")
        save_checkpoint(predictor.eval(), out_dir / "predictor")
        store.clear()
    return _summary(params, base_criterion, base_ce, result, round_trip_before, round_trip_after)


def _no_worse(after: dict[str, float], before: dict[str, float]) -> bool:
    """The cross-entropy of another tokenizer's tokens is not comparable: a tuned tokenizer
    counts only if it reconstructs the validation closes no worse than the base's."""
    return after["close_err_median_s1s2"] <= before["close_err_median_s1s2"]


def _summary(params: KronosFinetuneParams, base_criterion: float, base_ce: float | None,
             result: Fit | None, before: dict[str, float], after: dict[str, float]
             ) -> dict[str, Any]:
    """One configuration's record for the search (`result` None: the predictor never trained,
    so its cross-entropies are None)."""
    best = result.best if result else {"val_loss": None, "epoch": None}
    epochs_run = len(result.rows) if result else 0
    return {"criterion": best["val_loss"], "base_criterion": base_criterion,
            "base_val_ce": base_ce, "best_val_ce": best["val_loss"], "best_epoch": best["epoch"],
            "epochs_run": epochs_run, "stopped_early": epochs_run < params.epochs,
            "train_seconds": round(result.seconds, 1) if result else 0.0,
            "tokenizer_steps": params.tokenizer_steps,
            "tokenizer_close_err_median_before": before["close_err_median_s1s2"],
            "tokenizer_close_err_median_after": after["close_err_median_s1s2"],
            "admissible": _no_worse(after, before)}
