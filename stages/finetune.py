"""DVC stage `finetune@FAMILY` (plan 3.1, 3.2): the base checkpoint fine-tuned on
`finetune.symbols`' training split with early stopping on validation loss; then base vs
fine-tuned on the same validation and test windows of every target symbol, with DM p-values.

Data-parallel (Toto): `torchrun --nproc_per_node N stages/finetune.py toto` (gloo, CPU)."""

import os
import sys
from pathlib import Path

import torch

from cryptocast.config import EvalConfig, load_params, symbols_from_params
from cryptocast.data.corpus import load_training_corpus
from cryptocast.io import write_json
from cryptocast.runtime import RuntimeConfig, configure
from cryptocast.training.finetune import compare_checkpoints, finetune_family

if __name__ == "__main__":
    family = sys.argv[1]
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # torchrun --nproc_per_node N
        torch.distributed.init_process_group("gloo")
    params = load_params()
    runtime = configure(RuntimeConfig.from_params(params))
    settings = params["finetune"]
    seed = int(params["seed"])
    corpus = load_training_corpus("data/prepared", settings["symbols"])
    summary = finetune_family(family, corpus, Path(f"models/{family}"),
                              {**settings[family], "symbols": settings["symbols"]},
                              Path(f"models/finetuned/{family}"), Path("plots/finetune"),
                              Path(f"build/state/finetune/{family}"), seed)
    if torch.distributed.is_initialized() and torch.distributed.get_rank() > 0:
        sys.exit(0)  # rank 0 evaluates and writes
    comparison = compare_checkpoints(family, params["models"][family]["forecaster"],
                                     symbols_from_params(params), "data/prepared", "models",
                                     "models/finetuned", EvalConfig.from_params(params), seed)
    write_json(f"metrics/finetune/{family}.json",
               {**summary, "runtime": runtime, "symbols": comparison})
