"""Official checkpoint layout: a folder with `config.json` and `model.safetensors`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from safetensors.torch import load_file

from cryptocast.models.folder import CONFIG_FILE, WEIGHTS_FILE, write_folder
from cryptocast.models.toto.config import TotoConfig
from cryptocast.models.toto.model import Toto

# Checkpoints written with xFormers' fused SwiGLU name the MLP weights differently.
_FUSED_TO_PLAIN = {r"\.mlp\.0\.w12\.": ".mlp.0.", r"\.mlp\.0\.w3\.": ".mlp.2."}


def _normalise_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        if key.endswith("rotary_emb.freqs"):  # recomputed, never loaded (as the reference does)
            continue
        for pattern, plain in _FUSED_TO_PLAIN.items():
            key = re.sub(pattern, plain, key)
        out[key] = value
    return out


def load_checkpoint(directory: str | Path, map_location: str = "cpu") -> Toto:
    """Build a `Toto` from `directory`/config.json and load `model.safetensors` strictly."""
    directory = Path(directory)
    config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    for path in (config_path, weights_path):
        if not path.is_file():
            raise FileNotFoundError(f"Toto checkpoint: missing {path}")
    config = TotoConfig.from_dict(json.loads(config_path.read_text()))
    model = Toto(config)
    state = _normalise_keys(load_file(weights_path, device=map_location))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"Toto checkpoint {directory}: keys do not match the model; "
            f"missing {missing[:10]}{'...' if len(missing) > 10 else ''}, "
            f"unexpected {unexpected[:10]}{'...' if len(unexpected) > 10 else ''}"
        )
    wrong = [k for k in expected if expected[k].shape != state[k].shape]
    if wrong:
        raise ValueError(
            f"Toto checkpoint {directory}: shape mismatch for {wrong[:10]} "
            f"(e.g. {wrong[0]}: file {tuple(state[wrong[0]].shape)}, "
            f"config {tuple(expected[wrong[0]].shape)})"
        )
    model.load_state_dict(state, strict=True)
    return model.eval()


def save_checkpoint(model: Toto, directory: str | Path) -> None:
    """Write config.json + model.safetensors into `directory`, replacing it atomically."""
    write_folder(directory, model.config.to_dict(), model)
