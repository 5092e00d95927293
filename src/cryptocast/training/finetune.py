"""What fine-tuning both families shares: the params, the search over a grid of fine-tuning
configurations, the dispatch by family, the device and process world (data-parallel under
torchrun), and the base vs fine-tuned comparison on the evaluation windows."""

from __future__ import annotations

import hashlib
import importlib
import itertools
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import pandas as pd
import torch

from cryptocast.code import closure_sha256
from cryptocast.data.store import load_series, read_splits
from cryptocast.evaluation.evaluate import backtest_candidates, metrics_for_dvc, score_results
from cryptocast.forecast.registry import FAMILIES, build_forecaster
from cryptocast.io import read_json, sha256_of, write_json
from cryptocast.models.folder import copy_folder
from cryptocast.runtime import autocast_enabled, current_device, machine
from cryptocast.training.early_stopping import Schedule

# What compares fine-tuning configurations (and the base) per family, on validation windows.
CRITERIA = {"toto": "validation NLL of the next close (the mixture's, whatever the loss)",
            "kronos": "validation token cross-entropy"}


@dataclass(frozen=True)
class FinetuneParams:
    """What both families' `params.yaml finetune.<family>` hold (and `finetune.symbols`);
    each family's class adds its own knobs."""

    SECTION: ClassVar[str] = "finetune"
    symbols: list[str]
    epochs: int
    steps_per_epoch: int
    batch_size: int
    lr: float  # AdamW, after a linear warm-up
    weight_decay: float
    warmup_steps: int
    grad_clip: float
    patience: int  # epochs without a better validation loss before stopping
    dropout: float | None  # every dropout rate while fine-tuning (None: the checkpoint's)

    def __post_init__(self) -> None:
        for name in ("epochs", "steps_per_epoch", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"params {self.SECTION}.{name} must be >= 1")
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"params {self.SECTION}.dropout must be in [0, 1) or null, got "
                             f"{self.dropout!r}")

    def schedule(self) -> Schedule:
        return Schedule(self.SECTION.replace(".", " "), self.epochs, self.steps_per_epoch,
                        self.patience)


def set_dropout(model: torch.nn.Module, p: float | None) -> None:
    """Every dropout of `model` at rate `p` (dropout layers and attention's dropout rates);
    None leaves the checkpoint's rates."""
    if p is None:
        return
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = p
        for name in ("dropout", "attn_dropout_p"):  # attention rates (Toto, Kronos)
            if isinstance(getattr(module, name, None), float):
                setattr(module, name, p)


class FinetuningFamily(Protocol):
    """What `cryptocast.training.finetune_<family>` provides."""

    def finetune(self, corpus, base_dir: Path, train_params: dict[str, Any], out_dir: Path,
                 curve: Path, state_dir: Path, seed: int,
                 base_scores: dict | None = None) -> dict[str, Any]:
        """Fine-tune the checkpoint in `base_dir` once with `train_params` (params
        finetune.<family> with one grid configuration); returns the training summary, whose
        `criterion` (and the base's, `base_criterion`) compares configurations.
        `base_scores`: a search's memo of the base checkpoint's validation scores (`shared`)."""


def shared(base_scores: dict | None, key: tuple, compute: Callable[[], Any]) -> Any:
    """`compute()`, kept in `base_scores` under `key` when a memo is given: every
    configuration of a search starts from the same base weights and validation windows, so
    their base scores are computed once (None: always computed)."""
    if base_scores is None:
        return compute()
    if key not in base_scores:
        base_scores[key] = compute()
    return base_scores[key]


def finetuning(family: str) -> FinetuningFamily:
    if family not in FAMILIES:
        raise ValueError(f"finetune: family must be one of {list(FAMILIES)}, got {family!r}")
    return importlib.import_module(f"cryptocast.training.finetune_{family}")


def finetune_family(family: str, corpus, base_dir: str | Path, train_params: dict[str, Any],
                    out_dir: str | Path, curve: str | Path, state_dir: str | Path,
                    seed: int, base_scores: dict | None = None) -> dict[str, Any]:
    """Fine-tune `family` once (`FinetuningFamily.finetune`)."""
    return finetuning(family).finetune(corpus, Path(base_dir), train_params, Path(out_dir),
                                       Path(curve), Path(state_dir), seed, base_scores)


def grid_configs(grid: dict[str, list]) -> dict[str, dict[str, Any]]:
    """Every combination of the grid's values, by name (`loss-nll_lr-0.0001_trainable-all`)."""
    if not grid or not all(isinstance(v, list) and v for v in grid.values()):
        raise ValueError("params finetune.<family>.grid: a non-empty list of values per knob")
    configs = {}
    for values in itertools.product(*grid.values()):
        config = dict(zip(grid, values, strict=True))
        configs["_".join(f"{k}-{v}" for k, v in config.items())] = config
    return configs


def search_fingerprint(family: str, corpus, base_dir: str | Path, settings: dict[str, Any],
                       seed: int) -> str:
    """A short hash of everything a search's results depend on: the settings, seed, base
    checkpoint, training series, the fine-tuning code (its import closure) and the runtime."""
    text = json.dumps({"settings": settings, "seed": seed, "base": sha256_of([Path(base_dir)]),
                       "series": sorted(f"{f.symbol}@{f.interval}:{len(f.candles)}"
                                        for f in corpus.train),
                       "val_start": str(corpus.val_start),
                       "code": closure_sha256(f"cryptocast.training.finetune_{family}", [family]),
                       "runtime": [machine(), autocast_enabled(),
                                   torch.get_num_threads(), World.current().size]},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def finetune_search(family: str, corpus, base_dir: str | Path, settings: dict[str, Any],
                    out_dir: str | Path, plots_dir: str | Path, work_dir: str | Path,
                    seed: int) -> dict[str, Any]:
    """Fine-tune every configuration of `settings["grid"]` (each over the other settings),
    keep every one's curve (`plots_dir/<name>.csv`), and put the admissible one (its summary
    says `admissible`, true by default) with the lowest validation criterion in `out_dir`, or
    the base when none beats it (ties keep the base).
    A finished configuration is not trained again (its checkpoint and summary stay in
    `work_dir/<name>`), so an interrupted search resumes. Returns {criterion, base_criterion,
    configs: {name: summary}, chosen (None: the base), same_as_base}."""
    settings = dict(settings)
    grid = grid_configs(settings.pop("grid"))
    world = World.current()
    work_dir = Path(work_dir) / search_fingerprint(family, corpus, base_dir, settings, seed)
    tried: dict[str, dict[str, Any]] = {}
    base_scores: dict = {}
    for name, overrides in grid.items():
        run = work_dir / name
        done = run / "summary.json"
        if done.exists():
            tried[name] = read_json(done)
            continue
        summary = finetune_family(family, corpus, base_dir, {**settings, **overrides},
                                  run / "checkpoint", Path(plots_dir) / f"{name}.csv",
                                  run / "state", seed, base_scores)
        tried[name] = {**overrides, **summary}
        if world.rank == 0:
            write_json(done, tried[name])
    base = min(t["base_criterion"] for t in tried.values())
    admissible = [n for n in tried if tried[n].get("admissible", True)]
    best = min(admissible, key=lambda n: tried[n]["criterion"], default=None)
    chosen = best if best and tried[best]["criterion"] < base else None
    if world.rank == 0:
        copy_folder(work_dir / chosen / "checkpoint" if chosen else Path(base_dir), out_dir)
        shutil.rmtree(work_dir)  # a finished search must not stand in for a later one
    return {"criterion": CRITERIA[family], "base_criterion": base, "configs": tried,
            "chosen": chosen, "same_as_base": chosen is None}


def init_distributed(device: torch.device) -> bool:
    """Join the process group when launched by `torchrun` (WORLD_SIZE > 1): NCCL between
    GPUs, gloo on CPU. Returns whether this is a data-parallel run."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    torch.distributed.init_process_group(backend(device))
    return True


def backend(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


@dataclass(frozen=True)
class World:
    """This process's share of a data-parallel run: every rank draws the same global batch and
    trains on its slice of rows; DDP averages the gradients, so the weights follow the
    single-process run with the same global batch (dropout aside)."""

    rank: int = 0
    size: int = 1
    device: torch.device = torch.device("cpu")

    @classmethod
    def current(cls) -> World:
        """The torchrun process group when initialised (else one process), on the process's
        device (`runtime.device`)."""
        device = current_device()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return cls(torch.distributed.get_rank(), torch.distributed.get_world_size(), device)
        return cls(0, 1, device)

    def rows(self, batch_size: int, section: str) -> slice:
        """This rank's rows of a global batch of `batch_size`."""
        if batch_size % self.size:
            raise ValueError(f"params {section}.batch_size {batch_size} must be a multiple of "
                             f"the {self.size} processes")
        share = batch_size // self.size
        return slice(self.rank * share, (self.rank + 1) * share)

    def broadcast(self, model: torch.nn.Module) -> None:
        """Copy rank 0's weights of `model` to every process."""
        if self.size > 1:
            for tensor in model.state_dict().values():
                torch.distributed.broadcast(tensor, 0)

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """`model` (already on `device`) under DDP when there are several processes."""
        if self.size == 1:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def compare_checkpoints(family: str, knobs: dict[str, Any], finetuned: dict[str, Path],
                        prepared_dir: str | Path, base: str | Path, cfg, seed: int
                        ) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """Base vs fine-tuned checkpoint with the same forecaster knobs, on the same validation and
    test windows of every symbol of `finetuned` (symbol -> its fine-tuned folder): metrics of
    both, the fine-tuned one's DM p-value and MAE difference interval against the base, and
    naive; and the point forecasts of the three per symbol."""
    splits = read_splits(prepared_dir)
    spec = {"model": family, **knobs}
    shared = {"base": build_forecaster("base", {**spec, "checkpoint": base}, seed=seed),
              "naive": build_forecaster("naive", {"model": "naive"}, seed=seed)}
    loaded: dict[Path, Any] = {}
    report, forecasts = {}, {}
    for symbol, folder in finetuned.items():
        if folder not in loaded:  # one load per folder, whatever the number of symbols
            loaded[folder] = build_forecaster("finetuned", {**spec, "checkpoint": folder},
                                              seed=seed)
        candles = load_series(prepared_dir, splits.interval, symbol)
        results = backtest_candidates(candles, symbol, splits,
                                      {**shared, "finetuned": loaded[folder]}, cfg)
        metrics, forecasts[symbol] = score_results(results, "base", cfg, splits.interval, seed)
        report[symbol] = metrics_for_dvc(metrics)
    return report, forecasts
