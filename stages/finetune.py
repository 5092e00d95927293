"""DVC stage `finetune@FAMILY` (plan 3.1, 3.2): the base checkpoint fine-tuned on
`finetune.symbols`' training split with early stopping on validation loss; then base vs
fine-tuned on the same validation and test windows of every target symbol, with DM p-values.

On `runtime.device` (auto: CUDA when present, with bf16 autocast). Data-parallel:
`torchrun --nproc_per_node N stages/finetune.py FAMILY` (NCCL between GPUs, gloo on CPU)."""

import sys
from pathlib import Path

import torch

from cryptocast.config import EvalConfig, symbols_from_params
from cryptocast.data.corpus import load_training_corpus
from cryptocast.io import write_json
from cryptocast.runtime import current_device, load_and_configure
from cryptocast.training.finetune import compare_checkpoints, finetune_family, init_distributed

if __name__ == "__main__":
    family = sys.argv[1]
    params, runtime = load_and_configure()
    distributed = init_distributed(current_device())
    settings = params["finetune"]
    seed = int(params["seed"])
    corpus = load_training_corpus("data/prepared", settings["symbols"])
    summary = finetune_family(family, corpus, Path(f"models/{family}"),
                              {**settings[family], "symbols": settings["symbols"]},
                              Path(f"models/finetuned/{family}"), Path("plots/finetune"),
                              Path(f"build/state/finetune/{family}"), seed)
    if distributed:
        runtime["processes"] = torch.distributed.get_world_size()
        rank = torch.distributed.get_rank()
        torch.distributed.destroy_process_group()
        if rank > 0:
            sys.exit(0)  # rank 0 evaluates and writes
    comparison = compare_checkpoints(family, params["models"][family]["forecaster"],
                                     symbols_from_params(params), "data/prepared", "models",
                                     "models/finetuned", EvalConfig.from_params(params), seed)
    write_json(f"metrics/finetune/{family}.json",
               {**summary, "runtime": runtime, "symbols": comparison})
