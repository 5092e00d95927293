"""The official checkpoint layout both families share: a folder with `config.json` and
`model.safetensors`, written atomically."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from cryptocast.io import current_umask, read_json, write_json

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def write_folder(directory: str | Path, config: dict[str, Any], model: torch.nn.Module) -> None:
    """Write `config` and `model`'s weights (moved to the CPU) into `directory`, replacing
    it atomically: a crash leaves the old folder or the new one, never a mix."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
        state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp's 0700 would hide it from a team
        _swap(tmp, directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _swap(tmp: Path, directory: Path) -> None:
    """Move the finished folder `tmp` onto `directory` (the old one goes first)."""
    old = directory.with_name(f".{directory.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        os.replace(directory, old)
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)


TRAINING_FILE = "training.json"
UNKNOWN = "unknown"


def write_data_end(directory: str | Path, data_end: str | None) -> None:
    """Record in a checkpoint folder the last moment of the data its weights were trained on
    (ISO time; None: unknown, e.g. an official checkpoint without a published date)."""
    write_json(Path(directory) / TRAINING_FILE, {"data_end": data_end or UNKNOWN})


def read_data_end(directory: str | Path) -> str:
    """The recorded end of a checkpoint folder's training data, or "unknown"."""
    path = Path(directory) / TRAINING_FILE
    if not path.exists():
        return UNKNOWN
    return str(read_json(path).get("data_end") or UNKNOWN)


def copy_folder(source: str | Path, target: str | Path) -> None:
    """Copy the checkpoint folder `source` (with its sub-folders) onto `target`, replacing it
    atomically."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
        os.chmod(tmp, 0o777 & ~current_umask())
        _swap(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
