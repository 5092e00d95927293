"""Official checkpoints by name: a hub repo id (e.g. Datadog/Toto-Open-Base-1.0) is fetched
once into the Hugging Face cache, as the official packages do; a local folder is used as is."""

from __future__ import annotations

import os
import re
from pathlib import Path

REPO_ID = re.compile(r"[\w.-]+/[\w.-]+")
FILES = ["config.json", "*.safetensors"]


def resolve_checkpoint(value: str) -> Path:
    """A local checkpoint folder for `value`: the folder itself, or the cached snapshot of the
    hub repo `value` (downloaded only when not cached). Errors name the value."""
    if Path(value).is_dir():
        return Path(value)
    if not REPO_ID.fullmatch(value):
        raise FileNotFoundError(f"checkpoint {value!r}: neither a folder nor a hub repo id "
                                "(organisation/name)")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    cache = os.environ.get("HF_HUB_CACHE")
    try:
        return Path(snapshot_download(value, allow_patterns=FILES, cache_dir=cache,
                                      local_files_only=True))
    except LocalEntryNotFoundError:
        pass
    try:
        return Path(snapshot_download(value, allow_patterns=FILES, cache_dir=cache))
    except Exception as err:  # network, auth or missing repo: one line naming the checkpoint
        raise FileNotFoundError(f"checkpoint {value!r}: not in the hub cache and could not be "
                                f"downloaded ({type(err).__name__}: {err})") from err


def resolve_checkpoints(value):
    """`resolve_checkpoint` over a checkpoint setting: None, a name, or a mapping of names."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {key: None if v is None else str(resolve_checkpoint(v)) for key, v in value.items()}
    return str(resolve_checkpoint(value))
