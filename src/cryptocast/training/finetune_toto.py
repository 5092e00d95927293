"""finetune@toto (plan 3.1): the base checkpoint trained further on crypto symbols' training
split, with early stopping on validation loss so a small dataset cannot overfit unnoticed.

The losses (`finetune.toto.loss`) are the mixture's, in models/toto/distribution.py.

Reuses pretraining's windows and resumable state. Every epoch ends with an atomic resumable
state (an interrupted run resumes and reaches the same weights); a non-finite loss stops the
run naming the step, before any state or checkpoint is written.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from cryptocast.config import from_mapping
from cryptocast.data.corpus import TrainingCorpus
from cryptocast.models.toto import Toto, load_checkpoint, save_checkpoint
from cryptocast.models.toto.distribution import LOSSES, finetune_loss
from cryptocast.runtime import autocast
from cryptocast.training.common import ResumableState, lr_at, optimizer_step, seed_everything
from cryptocast.training.early_stopping import finite, fit
from cryptocast.training.finetune import FinetuneParams, World, set_dropout, shared
from cryptocast.training.toto import validation_loss
from cryptocast.training.toto_windows import WindowSampler, validation_set

HEAD = ("model.unembed", "model.output_distribution")


@dataclass(frozen=True)
class TotoFinetuneParams(FinetuneParams):
    """params.yaml `finetune.toto` (and `finetune.symbols`)."""

    SECTION: ClassVar[str] = "finetune.toto"
    context_length: int  # candles per window before the predicted patch
    loss: str  # nll | huber | heteroscedastic
    huber_delta: float  # in scaled units
    trainable: str  # head (unembed + output head) | all
    pad_fraction: float  # WindowSampler knobs
    interval_weight_power: float

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"params finetune.toto.loss must be one of {list(LOSSES)}, "
                             f"got {self.loss!r}")
        if self.trainable not in ("head", "all"):
            raise ValueError(f"params finetune.toto.trainable must be head or all, got "
                             f"{self.trainable!r}")
        super().__post_init__()


def set_trainable(model: Toto, trainable: str) -> list[torch.nn.Parameter]:
    """Freeze everything but the head (unembed + output distribution) when `head`."""
    params = []
    for name, p in model.named_parameters():
        p.requires_grad_(trainable == "all" or name.startswith(HEAD))
        if p.requires_grad:
            params.append(p)
    return params


def scaled_targets(model, x: torch.Tensor, mask: torch.Tensor):
    """The model's output on a window's lookback (every patch but the last) and the next
    patches scaled by its causal statistics: the targets never enter their own scaling.
    x, mask: [batch, variates, time]; returns (output, targets [batch, variates, time - patch])."""
    patch = getattr(model, "module", model).config.patch_size
    with autocast(x.device):
        out = model(x[..., :-patch], mask[..., :-patch])
    return out, (x[..., patch:] - out.loc.float()) / out.scale.float()


def _loss(model, x, mask, params: TotoFinetuneParams, where: str) -> torch.Tensor:
    patch = getattr(model, "module", model).config.patch_size
    out, target = scaled_targets(model, x, mask)
    mixture = out.distribution.map(lambda t: t.float())
    return finite(finetune_loss(params.loss, mixture, target, mask[..., patch:],
                                params.huber_delta), "finetune toto", where)


def finetune(corpus: TrainingCorpus, base_dir: str | Path, train_params: dict[str, Any],
             out_dir: str | Path, curve: str | Path, state_dir: str | Path, seed: int,
             base_scores: dict | None = None) -> dict[str, Any]:
    """Fine-tune the checkpoint in `base_dir` on `corpus` (already cut at the validation
    start); keep the epoch with the best validation loss (the training loss) in `out_dir`,
    the loss per epoch in `curve`. The summary's `criterion` is the validation NLL of the
    kept weights (`base_criterion`: the base's), comparable across losses. Under `torchrun`
    (torch.distributed initialised) each process trains on its slice of the global batch;
    everything runs on the process's device (`runtime.device`)."""
    base_dir, out_dir = Path(base_dir), Path(out_dir)
    params = from_mapping(TotoFinetuneParams, train_params, "params finetune.toto")
    world = World.current()
    rows = world.rows(params.batch_size, "finetune.toto")
    seed_everything(seed)
    model = load_checkpoint(base_dir).to(world.device)
    set_dropout(model, params.dropout)
    trainable = set_trainable(model, params.trainable)
    optimizer = torch.optim.AdamW(trainable, lr=params.lr, weight_decay=params.weight_decay)
    net = world.wrap(model)
    rng = np.random.default_rng(seed)
    patch = model.config.patch_size
    train = [f.candles["close"].to_numpy(np.float32) for f in corpus.train
             if f.symbol in params.symbols]
    reference = model.config.price_reference
    sampler = WindowSampler(train, params.context_length + patch, patch, params.pad_fraction,
                            params.interval_weight_power, reference)
    windows = validation_set(corpus, params.context_length, reference)
    base_val = shared(base_scores, ("toto", params.context_length, params.loss,
                                    params.huber_delta),
                      lambda: validation_loss(model, windows, params.loss, params.huber_delta))
    base_nll = shared(base_scores, ("toto", params.context_length, "nll"),
                      lambda: validation_loss(model, windows, "nll"))
    store = ResumableState(state_dir, {"params": asdict(params), "seed": seed,
                                       "base": str(base_dir), "val_start": str(corpus.val_start),
                                       "series": sorted(f"{f.symbol}@{f.interval}"
                                                        for f in corpus.train)})

    def step(number: int, where: str) -> float:
        x, mask = sampler.sample(params.batch_size, rng)
        loss = _loss(net, x[rows].to(world.device), mask[rows].to(world.device), params, where)
        return optimizer_step(optimizer, loss, lr_at(number, params.lr, params.warmup_steps),
                              params.grad_clip)

    result = fit(model, optimizer, step,
                 lambda: validation_loss(model, windows, params.loss, params.huber_delta),
                 params.schedule(), store, rng, Path(curve), world.rank, base_loss=base_val)
    if world.rank == 0:
        save_checkpoint(model.eval(), out_dir)
        store.clear()
    return {"criterion": validation_loss(model, windows, "nll"), "base_criterion": base_nll,
            "base_val_loss": base_val, "best_val_loss": result.best["val_loss"],
            "best_epoch": result.best["epoch"], "epochs_run": len(result.rows),
            "stopped_early": len(result.rows) < params.epochs,
            "train_seconds": round(result.seconds, 1), "loss": params.loss,
            "trainable": params.trainable,
            "trainable_parameters": sum(p.numel() for p in trainable)}
