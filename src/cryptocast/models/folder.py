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

from cryptocast.io import current_umask

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
        old = directory.with_name(f".{directory.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if directory.exists():
            os.replace(directory, old)
        os.replace(tmp, directory)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
