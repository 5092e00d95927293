"""Process-wide runtime settings shared by every stage and bench: torch CPU threads, and the
device that training and forecasting run on (with bf16 autocast on CUDA)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cryptocast.config import from_mapping, load_params

DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


@dataclass(frozen=True)
class RuntimeConfig:
    """params.yaml `runtime`: torch CPU threads (results are bit-identical for one thread
    count, but trained weights differ between counts, and latencies depend on them: they are
    written into the metrics), the device (`auto` = CUDA when present) and bf16
    autocast on CUDA (CPU always computes in float32)."""

    threads: int
    device: str
    bf16: bool

    def __post_init__(self) -> None:
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise ValueError(f"params runtime.threads must be a positive int, got {self.threads!r}")
        if not isinstance(self.device, str) or not DEVICE_PATTERN.fullmatch(self.device):
            raise ValueError("params runtime.device must be auto, cpu, cuda or cuda:N, got "
                             f"{self.device!r}")
        if not isinstance(self.bf16, bool):
            raise ValueError(f"params runtime.bf16 must be true or false, got {self.bf16!r}")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> RuntimeConfig:
        return from_mapping(cls, params.get("runtime"), "params runtime")


def resolve_device(name: str) -> torch.device:
    """`auto` -> CUDA when present, else CPU. A bare `cuda` under torchrun is the process's
    own GPU (LOCAL_RANK). Asking for CUDA without one is an error, not a silent CPU run."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type != "cuda":
        return device
    if not torch.cuda.is_available():
        raise ValueError(f"params runtime.device is {name!r} but torch {torch.__version__} sees "
                         "no CUDA device; use auto or cpu")
    if device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if device.index >= torch.cuda.device_count():
        raise ValueError(f"params runtime.device {device} does not exist: "
                         f"{torch.cuda.device_count()} CUDA devices")
    return device


_current = {"device": torch.device("cpu"), "bf16": False}

# glibc mallopt parameters (malloc.h) and the largest mmap threshold it accepts on 64-bit
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_MAX = 32 * 2**20


def reuse_freed_memory() -> str:
    """Make glibc's malloc keep freed blocks of up to 32 MiB for reuse instead of returning
    them to the OS; returns "reuse", or "default" where the C library is not glibc.

    By default glibc serves blocks of a few hundred KiB with fresh mmap pages and trims the
    heap after frees, so every forward pass pays thousands of page faults for tensors of the
    same sizes (a Toto forward of 64 series: 1,300-2,700 faults, 1.2-1.9x its time, as
    measured). Where memory lives changes no arithmetic (torch aligns every tensor to 64 bytes
    either way)."""
    try:
        libc = ctypes.CDLL(None)  # the symbols already loaded, the C library's among them
    except (OSError, TypeError):  # no such handle (Windows)
        return "default"
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None or not hasattr(libc, "gnu_get_libc_version"):
        return "default"
    ok = mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX) and mallopt(_M_TRIM_THRESHOLD, 2**30)
    return "reuse" if ok else "default"


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name ("model name" in `cpuinfo`; "unknown CPU" where it has none)."""
    with contextlib.suppress(OSError):
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    return "unknown CPU"


def machine() -> str:
    """Where results are computed, as far as their bits depend on it: the torch device (with
    the GPU's name), the CPU's model and the kernels torch dispatches to, e.g. "cpu AMD EPYC
    7B13 AVX2". Training on another CPU model changes the weights' last bits, which every later
    number inherits (docs/operations.md)."""
    device = current_device()
    name = f" {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    return f"{device}{name} {cpu_model()} {torch.backends.cpu.get_cpu_capability()}"


def configure(cfg: RuntimeConfig) -> dict[str, Any]:
    """Apply `cfg` to this process; returns what was set, for the metrics files."""
    torch.set_num_threads(cfg.threads)
    malloc = reuse_freed_memory()
    device = resolve_device(cfg.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    _current.update(device=device, bf16=cfg.bf16 and device.type == "cuda")
    return {"threads": torch.get_num_threads(), "device": str(device),
            "cpu": cpu_model(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # kernels: AVX2, AVX512
            "bf16_autocast": _current["bf16"], "malloc": malloc,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
            "gomp_spincount": os.environ.get("GOMP_SPINCOUNT", "default")}


def load_and_configure(params_path: str | Path = "params.yaml", device: str | None = None
                       ) -> tuple[dict[str, Any], dict[str, Any]]:
    """params.yaml, and this process configured from its `runtime` section (`device`
    overrides runtime.device): (params, what `configure` set, for the metrics files)."""
    params = load_params(params_path)
    if device is not None:
        params = {**params, "runtime": {**(params.get("runtime") or {}), "device": device}}
    return params, configure(RuntimeConfig.from_params(params))


def current_device() -> torch.device:
    """The device `configure` chose for this process (CPU until it runs)."""
    return _current["device"]


def autocast_enabled() -> bool:
    """Whether `configure` turned bf16 autocast on (CUDA with runtime.bf16)."""
    return bool(_current["bf16"])


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast for work on a CUDA `device` when `runtime.bf16` is on; else nothing."""
    if device.type == "cuda" and _current["bf16"]:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
