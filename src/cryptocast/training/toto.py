"""Pretraining of a small Toto on the broad corpus (every symbol and interval before val_start)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from cryptocast.config import from_mapping
from cryptocast.data.corpus import TrainingCorpus
from cryptocast.models.toto import (
    Toto,
    TotoConfig,
    load_checkpoint,
    save_checkpoint,
)
from cryptocast.models.toto.distribution import combined_loss, finetune_loss
from cryptocast.runtime import autocast, current_device
from cryptocast.training.common import (
    ResumableState,
    lr_at,
    optimizer_step,
    seed_everything,
    set_torch_rng_state,
    torch_rng_state,
    write_curve,
)
from cryptocast.training.toto_windows import WindowSampler, validation_set

CURVE_FILE = "loss.csv"


@dataclass(frozen=True)
class TotoTrainParams:
    """params.yaml `pretrain.toto`. Epoch = `steps_per_epoch` optimiser steps."""

    epochs: int
    steps_per_epoch: int
    batch_size: int
    context_length: int  # input candles per training window (a multiple of the patch)
    lr: float
    weight_decay: float
    warmup_steps: int
    grad_clip: float
    lambda_nll: float  # reference loss mix: NLL vs robust loss on the mixture mean
    pad_fraction: float  # share of windows with a random left-padded prefix
    interval_weight_power: float  # series drawn with probability ~ windows ** power

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value < 0 or (f.name in ("epochs", "steps_per_epoch", "batch_size") and value == 0):
                raise ValueError(f"pretrain.toto.{f.name} must be positive, got {value}")
        if not 0 <= self.pad_fraction <= 1:
            raise ValueError(
                f"pretrain.toto.pad_fraction must be in [0, 1], got {self.pad_fraction}"
            )


def model_config(architecture: dict) -> TotoConfig:
    """TotoConfig from params.yaml `models.toto.architecture` (official keys, plus
    `k_components` for the Student-t mixture); an unknown key is an error."""
    arch = {f.name for f in fields(TotoConfig)}
    unknown = sorted(set(architecture) - arch - {"k_components"})
    if unknown:
        raise ValueError(f"models.toto.architecture: unknown keys {unknown}; "
                         f"known: {sorted(arch | {'k_components'})}")
    values = {k: v for k, v in architecture.items() if k in arch}
    if "k_components" in architecture:
        values["output_distribution_kwargs"] = {"k_components": int(architecture["k_components"])}
    return TotoConfig(**values)


@torch.no_grad()
def validation_loss(model: Toto, windows: tuple[torch.Tensor, ...], kind: str = "nll",
                    delta: float = 1.0, batch: int = 256) -> float:
    """Mean loss `kind` (`finetune_loss`; NLL by default) of the next close in the model's
    scaled units (one step ahead), over the validation windows."""
    model.eval()
    device = next(model.parameters()).device
    x, mask, target = (w.to(device) for w in windows)
    total = 0.0
    for start in range(0, len(x), batch):
        with autocast(device):
            out = model(x[start : start + batch], mask[start : start + batch],
                        last_patch_only=True)
        mixture = out.distribution.map(lambda t: t[:, 0, 0].double())
        scaled = (target[start : start + batch] - out.loc[:, 0, 0]) / out.scale[:, 0, 0]
        total += float(finetune_loss(kind, mixture, scaled, delta=delta)) * len(scaled)
    return total / len(x)


def _loss(model, x, mask, params: TotoTrainParams, patch: int) -> torch.Tensor:
    with autocast(x.device):
        out = model(x[..., :-patch], mask[..., :-patch])
    target = (x[..., patch:] - out.loc.float()) / out.scale.float()
    return combined_loss(out.distribution.map(lambda t: t.float()), target, mask[..., patch:],
                         params.lambda_nll)


def _run_epoch(model, optimizer, sampler, rng, params, epoch: int, global_step: int) -> float:
    model.train()
    device = next(model.parameters()).device
    total_steps = params.epochs * params.steps_per_epoch
    losses = []
    bar = tqdm(range(params.steps_per_epoch), desc=f"toto epoch {epoch + 1}/{params.epochs}",
               leave=False, mininterval=2.0)
    for i in bar:
        x, mask = (t.to(device) for t in sampler.sample(params.batch_size, rng))
        loss = _loss(model, x, mask, params, model.config.patch_size)
        lr = lr_at(global_step + i, params.lr, params.warmup_steps, total_steps)
        losses.append(optimizer_step(optimizer, loss, lr, params.grad_clip))
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}", refresh=False)
    return float(np.mean(losses))


def _fingerprint(config: TotoConfig, params: TotoTrainParams, corpus: TrainingCorpus,
                 seed: int) -> dict:
    series = sorted(f"{s.symbol}@{s.interval}:{len(s.candles)}" for s in corpus.train)
    return {"model": config.to_dict(), "train": asdict(params), "seed": seed,
            "val_start": str(corpus.val_start), "series": series}


def pretrain(corpus: TrainingCorpus, architecture: dict, train_params: dict, out_dir: Path,
             plots_dir: Path, state_dir: Path, seed: int) -> dict[str, float]:
    """Train on corpus.train (on `runtime.device`), track validation NLL per epoch, write the
    checkpoint to out_dir.

    Resumes from `state_dir` after an interrupt (same config, data and seed only); the curve
    (epoch, train_loss, val_nll) goes to `plots_dir`/loss.csv.
    """
    params = from_mapping(TotoTrainParams, train_params, "pretrain.toto")
    config = model_config(architecture)
    patch = config.patch_size
    if params.context_length % patch:
        raise ValueError(f"pretrain.toto.context_length ({params.context_length}) must be a "
                         f"multiple of models.toto.patch_size ({patch})")
    seed_everything(seed)
    model = Toto(config).to(current_device())
    optimizer = torch.optim.AdamW(model.parameters(), lr=params.lr,
                                  weight_decay=params.weight_decay)
    rng = np.random.default_rng(seed)
    state = ResumableState(state_dir, _fingerprint(config, params, corpus, seed))
    saved = state.load()
    rows: list[dict] = []
    start_epoch, elapsed = 0, 0.0
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        rng.bit_generator.state = saved["numpy_rng"]
        set_torch_rng_state(saved["torch_rng"])
        rows, start_epoch, elapsed = saved["rows"], saved["epoch"], saved["elapsed_s"]
    sampler = WindowSampler([s.candles["close"].to_numpy(np.float32) for s in corpus.train],
                            params.context_length + patch, patch, params.pad_fraction,
                            params.interval_weight_power, config.price_reference)
    windows = validation_set(corpus, params.context_length, config.price_reference)
    for epoch in range(start_epoch, params.epochs):
        t0 = time.perf_counter()
        train_loss = _run_epoch(model, optimizer, sampler, rng, params, epoch,
                                epoch * params.steps_per_epoch)
        val = validation_loss(model, windows)
        elapsed += time.perf_counter() - t0
        rows.append({"epoch": epoch + 1, "train_loss": round(train_loss, 6),
                     "val_nll": round(val, 6)})
        tqdm.write(f"toto epoch {epoch + 1}: train_loss {train_loss:.4f} val_nll {val:.4f}")
        write_curve(Path(plots_dir) / CURVE_FILE, rows)
        state.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "numpy_rng": rng.bit_generator.state, "torch_rng": torch_rng_state(),
                    "rows": rows, "epoch": epoch + 1, "elapsed_s": elapsed})
    model.eval()
    save_checkpoint(model, out_dir)
    load_checkpoint(out_dir)  # the written folder must load back strictly
    state.clear()
    return {"val_nll": rows[-1]["val_nll"], "train_loss": rows[-1]["train_loss"],
            "best_val_nll": min(r["val_nll"] for r in rows), "epochs": len(rows),
            "train_seconds": round(elapsed, 1),
            "parameters": sum(p.numel() for p in model.parameters())}


def import_official(checkpoint: str | None, out_dir: Path) -> dict[str, float] | None:
    """Copy the official folder `checkpoint` (models.toto.checkpoint) into out_dir (strict
    keys). Returns None when no checkpoint is set (pretrain instead)."""
    if not checkpoint:
        return None
    model = load_checkpoint(Path(checkpoint))
    save_checkpoint(model, Path(out_dir))
    return {"imported": 1.0, "parameters": float(sum(p.numel() for p in model.parameters()))}

