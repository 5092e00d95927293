"""Checkpoint folders in the official layout: config.json + model.safetensors."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from cryptocast.models.folder import CONFIG_FILE, WEIGHTS_FILE, write_folder

from .config import PredictorConfig, TokenizerConfig
from .predictor import Kronos
from .tokenizer import KronosTokenizer

# Buffers fixed by the config; a checkpoint may omit them, and must match when it has them.
DERIVED_BUFFERS = ("rotary.inv_freq", "bsq.basis", "bsq.group_basis")


def save_checkpoint(model: KronosTokenizer | Kronos, directory: str | Path) -> None:
    """Write config.json + model.safetensors into `directory`, replacing it atomically."""
    write_folder(directory, model.config.to_dict(), model)


def _read_config(directory: Path) -> dict:
    path = directory / CONFIG_FILE
    if not path.is_file() or not (directory / WEIGHTS_FILE).is_file():
        raise FileNotFoundError(f"{directory} needs {CONFIG_FILE} and {WEIGHTS_FILE}")
    return {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_")}


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load safetensors weights with strict key matching (derived buffers may be absent)."""
    state = load_file(str(path))
    expected = model.state_dict()
    missing = sorted(k for k in expected if k not in state and not k.endswith(DERIVED_BUFFERS))
    unexpected = sorted(k for k in state if k not in expected)
    if missing or unexpected:
        raise ValueError(f"{path}: missing keys {missing[:10]}, unexpected keys {unexpected[:10]}"
                         f" ({len(missing)} missing, {len(unexpected)} unexpected)")
    for key in state:
        if key.endswith(DERIVED_BUFFERS) and not torch.equal(
            state[key].to(expected[key].dtype), expected[key]
        ):
            raise ValueError(f"{path}: buffer {key} does not match the config")
    model.load_state_dict(state, strict=False)


def load_tokenizer(directory: str | Path) -> KronosTokenizer:
    """Load a KronosTokenizer folder (e.g. Kronos-Tokenizer-base) in eval mode."""
    directory = Path(directory)
    model = KronosTokenizer(TokenizerConfig.from_dict(_read_config(directory)))
    load_weights(model, directory / WEIGHTS_FILE)
    return model.eval()


def load_predictor(directory: str | Path) -> Kronos:
    """Load a Kronos predictor folder (e.g. Kronos-small, Kronos-base) in eval mode."""
    directory = Path(directory)
    model = Kronos(PredictorConfig.from_dict(_read_config(directory)))
    load_weights(model, directory / WEIGHTS_FILE)
    return model.eval()


def load_checkpoint(directory: str | Path) -> tuple[KronosTokenizer, Kronos]:
    """Load `directory/tokenizer` and `directory/predictor`; their bit widths must agree."""
    directory = Path(directory)
    tokenizer = load_tokenizer(directory / "tokenizer")
    predictor = load_predictor(directory / "predictor")
    t, p = tokenizer.config, predictor.config
    if (t.s1_bits, t.s2_bits) != (p.s1_bits, p.s2_bits):
        raise ValueError(f"tokenizer bits {(t.s1_bits, t.s2_bits)} != predictor bits "
                         f"{(p.s1_bits, p.s2_bits)} in {directory}")
    return tokenizer, predictor


def import_checkpoint(tokenizer_dir: str | Path, predictor_dir: str | Path,
                      out_dir: str | Path) -> tuple[KronosTokenizer, Kronos]:
    """Validate official folders (strict keys, matching bits) and copy them, re-saved in the
    same layout, to out_dir/tokenizer and out_dir/predictor."""
    tokenizer, predictor = load_tokenizer(tokenizer_dir), load_predictor(predictor_dir)
    t, p = tokenizer.config, predictor.config
    if (t.s1_bits, t.s2_bits) != (p.s1_bits, p.s2_bits):
        raise ValueError(f"tokenizer checkpoint bits {(t.s1_bits, t.s2_bits)} != predictor "
                         f"checkpoint bits {(p.s1_bits, p.s2_bits)}")
    save_checkpoint(tokenizer, Path(out_dir) / "tokenizer")
    save_checkpoint(predictor, Path(out_dir) / "predictor")
    return tokenizer, predictor
