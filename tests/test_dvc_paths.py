"""Every stage's outputs in dvc.yaml are the ones `cryptocast.layout` says it writes: the
pipeline's file layout is declared in dvc.yaml and in one module, and these agree."""

from __future__ import annotations

from pathlib import Path

import pytest
from dvc.repo import Repo

from cryptocast import layout

ROOT = Path(__file__).resolve().parents[1]


def stages():
    repo = Repo(str(ROOT))
    try:
        return [(s.addressing, sorted(str(o.def_path) for o in s.outs))
                for s in repo.index.stages]
    finally:
        repo.close()


STAGES = stages()


@pytest.mark.parametrize(("name", "outs"), STAGES, ids=[s[0] for s in STAGES])
def test_stage_outputs_follow_the_layout(name, outs):
    group, _, item = name.partition("@")
    assert outs == sorted(str(p) for p in layout.outputs(group, item or None))


def test_an_unknown_stage_has_no_layout():
    with pytest.raises(ValueError, match="no layout for stage 'nope'"):
        layout.outputs("nope")
