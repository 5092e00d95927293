"""Data-parallel fine-tuning: two gloo processes on CPU reach the weights of one process with
the same global batch and seed (dropout 0: its masks are drawn per process)."""

from __future__ import annotations

import pandas as pd
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from test_toto_model import TINY
from test_toto_training import VAL_START, frame

from cryptocast.data.corpus import TrainingCorpus
from cryptocast.models.toto import Toto, load_checkpoint, save_checkpoint
from cryptocast.training.finetune_toto import finetune_toto

TRAIN = {"symbols": ["AAA"], "epochs": 2, "steps_per_epoch": 3, "batch_size": 4,
         "context_length": 16, "warmup_steps": 1, "lr": 1e-3, "dropout": 0.0}


def make_corpus() -> TrainingCorpus:
    train = [frame("AAA", "1d", 60, 0), frame("AAA", "1h", 200, 1)]
    return TrainingCorpus(train, [frame("AAA", "1d", 75, 0)], VAL_START,
                          pd.Timestamp("2024-03-16"))


def worker(rank: int, size: int, init: str, base: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=size)
    try:
        torch.set_num_threads(1)
        finetune_toto(make_corpus(), base, TRAIN, f"{out}/model", f"{out}/plots",
                      f"{out}/state", seed=0)
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_match_one(tmp_path):
    from pathlib import Path

    torch.manual_seed(0)
    save_checkpoint(Toto(TINY), tmp_path / "base")
    single = tmp_path / "single"
    finetune_toto(make_corpus(), tmp_path / "base", TRAIN, single / "model", single / "plots",
                  single / "state", seed=0)
    mp.spawn(worker, args=(2, f"file://{tmp_path / 'rendezvous'}", str(tmp_path / "base"),
                           str(tmp_path / "ddp")), nprocs=2, join=True)
    a = load_checkpoint(single / "model").state_dict()
    b = load_checkpoint(Path(tmp_path / "ddp" / "model")).state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-5, rtol=1e-4) for k in a)
    # each process saw its half of every batch (rank 0 logs its own training loss), and the
    # validation losses, computed on the same weights, agree
    curves = [pd.read_csv(d / "plots" / "toto.csv") for d in (single, tmp_path / "ddp")]
    assert not curves[0]["train_loss"].equals(curves[1]["train_loss"])
    assert curves[0]["val_loss"].tolist() == curves[1]["val_loss"].tolist()
    # and they did train: the weights moved away from the base
    base = load_checkpoint(tmp_path / "base").state_dict()
    assert any(not torch.allclose(a[k], base[k]) for k in a)
