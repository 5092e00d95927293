"""Data-parallel fine-tuning: two gloo processes on CPU reach the weights of one process with
the same global batch and seed (dropout 0: its masks are drawn per process)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from test_toto_training import VAL_START, frame
from tiny import PREDICTOR, TINY, TOKENIZER, finetune_settings

from cryptocast.data.corpus import TrainingCorpus
from cryptocast.models import kronos, toto
from cryptocast.training.finetune import finetune_family

TRAIN = {
    "toto": finetune_settings("toto", symbols=["AAA"], epochs=2, steps_per_epoch=3,
                              batch_size=4, context_length=16, warmup_steps=1, lr=1e-3,
                              dropout=0.0),
    # tokenizer_lr: the random tokenizer's round trip improves, so the predictor trains
    "kronos": finetune_settings("kronos", symbols=["AAA"], epochs=2, steps_per_epoch=3,
                                batch_size=4, window=16, min_window=8, warmup_steps=1, lr=1e-3,
                                dropout=0.0, tokenizer_steps=2, tokenizer_lr=0.03),
}


def make_corpus() -> TrainingCorpus:
    train = [frame("AAA", "1d", 60, 0), frame("AAA", "1h", 200, 1)]
    return TrainingCorpus(train, [frame("AAA", "1d", 75, 0)], VAL_START,
                          pd.Timestamp("2024-03-16"))


def train(family: str, base: Path, out: Path) -> None:
    finetune_family(family, make_corpus(), base, TRAIN[family], out / "model",
                    out / "curve.csv", out / "state", seed=0)


def worker(rank: int, size: int, init: str, family: str, base: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=size)
    try:
        torch.set_num_threads(1)
        train(family, Path(base), Path(out))
    finally:
        dist.destroy_process_group()


def save_base(family: str, base: Path) -> None:
    torch.manual_seed(0)
    if family == "toto":
        toto.save_checkpoint(toto.Toto(TINY), base)
    else:
        kronos.save_checkpoint(kronos.KronosTokenizer(kronos.TokenizerConfig(**TOKENIZER)),
                               base / "tokenizer")
        kronos.save_checkpoint(kronos.Kronos(kronos.PredictorConfig(**PREDICTOR)),
                               base / "predictor")


def weights(family: str, folder: Path) -> dict[str, torch.Tensor]:
    if family == "toto":
        return toto.load_checkpoint(folder).state_dict()
    tokenizer, predictor = kronos.load_checkpoint(folder)
    return {**{f"tokenizer.{k}": v for k, v in tokenizer.state_dict().items()},
            **{f"predictor.{k}": v for k, v in predictor.state_dict().items()}}


@pytest.mark.parametrize("family", ["toto", "kronos"])
def test_two_gloo_processes_match_one(family, tmp_path):
    save_base(family, tmp_path / "base")
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    train(family, tmp_path / "base", single)
    mp.spawn(worker, args=(2, f"file://{tmp_path / 'rendezvous'}", family,
                           str(tmp_path / "base"), str(ddp)), nprocs=2, join=True)
    a, b = weights(family, single / "model"), weights(family, ddp / "model")
    assert all(torch.allclose(a[k], b[k], atol=1e-5, rtol=1e-4) for k in a)
    # each process saw its half of every batch (rank 0 logs its own training loss), and the
    # validation losses, computed on the same weights, agree
    curves = [pd.read_csv(d / "curve.csv") for d in (single, ddp)]
    assert not curves[0]["train_loss"].equals(curves[1]["train_loss"])
    assert curves[0]["val_loss"].tolist() == pytest.approx(curves[1]["val_loss"].tolist(),
                                                           abs=1e-5)
    # and they did train: the weights moved away from the base
    base = weights(family, tmp_path / "base")
    assert any(not torch.allclose(a[k], base[k]) for k in a)


def join(rank: int, port: int, out: str) -> None:
    """A torchrun-like process: the environment names the group, init_distributed joins it."""
    import os

    from cryptocast.training.finetune import World, init_distributed

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    assert init_distributed(torch.device("cpu"))
    try:
        world = World.current()
        Path(out, f"rank{rank}").write_text(
            f"{dist.get_backend()} {world.rank} {world.size} {world.device}")
    finally:
        dist.destroy_process_group()


def test_init_distributed_joins_the_torchrun_group_over_gloo(tmp_path, monkeypatch):
    import socket

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    from cryptocast.training.finetune import init_distributed

    assert not init_distributed(torch.device("cpu"))  # not under torchrun: one process
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(join, args=(port, str(tmp_path)), nprocs=2, join=True)
    assert [(tmp_path / f"rank{r}").read_text() for r in (0, 1)] == ["gloo 0 2 cpu",
                                                                     "gloo 1 2 cpu"]
