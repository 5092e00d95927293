"""Pieces every training loop shares: seeding, resumable state, loss curves."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cryptocast.io import write_atomic


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic kernels (cuBLAS needs its
    workspace setting for that, before its first call)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def lr_at(step: int, lr: float, warmup: int, total: int | None = None,
          floor: float = 0.1) -> float:
    """The learning rate of every training loop: a linear warm-up to `lr` over `warmup`
    steps, then constant (`total` None: fine-tuning, which early stopping ends) or a cosine
    decay to `floor` x `lr` at step `total`."""
    if step < warmup:
        return lr * (step + 1) / warmup
    if total is None:
        return lr
    progress = min((step - warmup) / max(1, total - warmup), 1.0)
    return lr * (floor + (1 - floor) / 2 * (1 + math.cos(math.pi * progress)))


def optimizer_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, lr: float,
                   clip: float) -> float:
    """One step of every training loop: the learning rate `lr`, the gradients of `loss`
    clipped to norm `clip` (over the parameters the optimiser trains); returns the loss."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]],
                                   clip)
    optimizer.step()
    return float(loss.detach())


def torch_rng_state() -> dict[str, Any]:
    """torch's CPU generator state, and every CUDA device's once CUDA is in use (dropout)."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []
    return {"cpu": torch.get_rng_state(), "cuda": cuda}


def set_torch_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])


class ResumableState:
    """Training state saved atomically in `state_dir`, valid only for the same run config.

    `fingerprint` holds everything that defines the run (configs, seed, data cut); a saved state
    whose fingerprint differs is ignored, so a changed config never resumes a stale run.
    """

    def __init__(self, state_dir: str | Path, fingerprint: dict[str, Any]) -> None:
        self.path = Path(state_dir) / "state.pt"
        self.fingerprint = json.loads(json.dumps(fingerprint, sort_keys=True, default=str))

    def load(self) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        state = torch.load(self.path, map_location="cpu", weights_only=False)
        if state.get("fingerprint") != self.fingerprint:
            return None
        return state

    def save(self, state: dict[str, Any]) -> None:
        payload = {"fingerprint": self.fingerprint, **state}
        write_atomic(self.path, lambda tmp: torch.save(payload, tmp))

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def write_curve(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Write loss-curve rows as CSV (a DVC plot), atomically; the header comes from rows[0]."""
    if not rows:
        raise ValueError(f"write_curve({path}): no rows to write")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    text = buffer.getvalue()
    write_atomic(path, lambda tmp: Path(tmp).write_text(text))
