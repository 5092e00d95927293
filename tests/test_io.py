"""Atomic outputs: all or nothing, and readable by the team (the umask's mode, not 0600)."""

from __future__ import annotations

import os
import stat

import pytest
import torch

from cryptocast.io import read_json, write_atomic, write_json
from cryptocast.models.folder import write_folder


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.json"
    write_json(path, {"a": 1})

    def crash(tmp):
        tmp.write_text("half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_atomic(path, crash)
    assert read_json(path) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_outputs_get_the_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "m.json", {})
        write_folder(tmp_path / "model", {"x": 1}, torch.nn.Linear(2, 1))
    finally:
        os.umask(old)
    assert mode(tmp_path / "m.json") == 0o644
    assert mode(tmp_path / "model") == 0o755
    assert read_json(tmp_path / "model" / "config.json") == {"x": 1}
