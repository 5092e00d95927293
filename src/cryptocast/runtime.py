"""Process-wide runtime settings shared by every stage and bench: torch CPU threads."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch

from cryptocast.config import from_mapping


@dataclass(frozen=True)
class RuntimeConfig:
    """params.yaml `runtime`: torch CPU threads for every stage (results do not depend on it;
    latencies do, so it is written into the metrics)."""

    threads: int = 2

    def __post_init__(self) -> None:
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise ValueError(f"params runtime.threads must be a positive int, got {self.threads!r}")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> RuntimeConfig:
        return from_mapping(cls, params.get("runtime"), "params runtime")


def configure(cfg: RuntimeConfig) -> dict[str, Any]:
    """Apply `cfg` to this process; returns what was set, for the metrics files."""
    torch.set_num_threads(cfg.threads)
    return {"threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
            "gomp_spincount": os.environ.get("GOMP_SPINCOUNT", "default")}
