"""DVC stage `finetune@FAMILY` (plan 3.1, 3.2): every configuration of
`finetune.<family>.grid` fine-tuned from the base checkpoint on the training split (each
early-stopped on its validation loss), the one with the best validation criterion kept (or the
base, when none beats it); one checkpoint for `finetune.symbols`, or one per target symbol
(`finetune.per_symbol`). Then base vs fine-tuned on the validation and test windows of every
target symbol, with DM p-values and the point forecasts (for the selection gate).

On `runtime.device` (auto: CUDA when present, with bf16 autocast). Data-parallel:
`torchrun --nproc_per_node N stages/finetune.py FAMILY` (NCCL between GPUs, gloo on CPU)."""

import sys

import torch

from cryptocast import layout
from cryptocast.config import EvalConfig, symbols_from_params
from cryptocast.data.corpus import load_training_corpus
from cryptocast.io import write_atomic, write_json
from cryptocast.runtime import current_device, load_and_configure
from cryptocast.training.finetune import compare_checkpoints, finetune_search, init_distributed

if __name__ == "__main__":
    family = sys.argv[1]
    params, runtime = load_and_configure()
    distributed = init_distributed(current_device())
    settings = params["finetune"]
    targets = symbols_from_params(params)
    scopes = ({s: [s] for s in targets} if settings["per_symbol"]
              else {None: settings["symbols"]})
    searches, folders = {}, {}
    for scope, symbols in scopes.items():
        out = layout.finetuned(family, scope)
        searches[scope or "all"] = finetune_search(
            family, load_training_corpus(layout.PREPARED, symbols), layout.model(family),
            {**settings[family], "symbols": symbols}, out,
            layout.plots("finetune", family, "") / (scope or ""),
            layout.WORK / family / (scope or "all"), int(params["seed"]))
        folders.update({s: out for s in ([scope] if scope else targets)})
    if distributed:
        runtime["processes"] = torch.distributed.get_world_size()
        rank = torch.distributed.get_rank()
        torch.distributed.destroy_process_group()
        if rank > 0:
            sys.exit(0)  # rank 0 evaluates and writes
    comparison, forecasts = compare_checkpoints(
        family, params["models"][family]["forecaster"], folders, layout.PREPARED,
        layout.model(family), EvalConfig.from_params(params), int(params["seed"]))
    for symbol, frame in forecasts.items():
        write_atomic(layout.finetune_forecasts(family, symbol),
                     lambda tmp, f=frame: f.to_parquet(tmp, index=False))
    write_json(layout.metrics("finetune", family), {
        "per_symbol": settings["per_symbol"],
        "searches": searches,
        "checkpoints": {s: str(folder) for s, folder in folders.items()},
        "same_as_base": {s: searches[s if settings["per_symbol"] else "all"]["same_as_base"]
                         for s in targets},
        "runtime": runtime,
        "symbols": comparison,
    })
