"""Every DVC stage depends on exactly the code it runs: the files its script imports (package
`__init__`s and the families it loads by name included), and no other source file.

A stage missing a dependency leaves stale metrics after an edit; a superfluous one reruns work
that no change could affect. New stages are checked as soon as dvc.yaml lists them.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from dvc.repo import Repo

from cryptocast.code import DYNAMIC, closure, module_name

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
NEURAL = ("toto", "kronos")


# Stages that also read another stage's params section for the same item.
READS_ALSO = {"improved": ("baseline",), "sweep": ("baseline",), "resweep": ("baseline",)}


def models_in(section) -> set[str]:
    """Every `model` value anywhere in a params section."""
    if isinstance(section, dict):
        found = {section["model"]} if isinstance(section.get("model"), str) else set()
        return found.union(*(models_in(v) for v in section.values()))
    if isinstance(section, list):
        return set().union(*(models_in(v) for v in section))
    return set()


def stage_families(stage_name: str, args: list[str]) -> set[str]:
    """The model families a stage loads by name: its argument, or its candidates' models."""
    group, _, item = stage_name.partition("@")
    if item in NEURAL:
        return {item}
    if group == "pool":  # pools hold Toto samples
        return {"toto"}
    if group in ("select", "panel", "panel_sweep"):  # any config, every family
        return set(NEURAL)
    sections = [PARAMS.get(g, {}).get(item, {}) for g in (group, *READS_ALSO.get(group, ()))]
    found = set().union(*(models_in(s) for s in sections))
    if group == "sweep":
        sweep = PARAMS["sweep"]
        found |= set(sweep["symbols"].get(item, {}).get("families",
                                                        sweep["defaults"]["families"]))
    if group == "resweep":
        found |= set(PARAMS["resweep"]["families"])
    return found & set(NEURAL)


def stages():
    repo = Repo(str(ROOT))
    try:
        return [(s.addressing, s.cmd, [str(d.def_path) for d in s.deps]) for s in repo.index.stages]
    finally:
        repo.close()


STAGES = stages()


def test_the_dynamic_imports_are_the_known_ones():
    pattern = re.compile(r"import_module\(f\"(cryptocast\.[a-z_.]+)\{")
    found = {}
    for path in SRC.rglob("*.py"):
        for prefix in pattern.findall(path.read_text()):
            found[module_name(path)] = prefix
    assert {m: p + "{family}" for m, p in found.items()} == DYNAMIC


@pytest.mark.parametrize(("name", "cmd", "deps"), STAGES, ids=[s[0] for s in STAGES])
def test_stage_depends_on_exactly_the_code_it_runs(name, cmd, deps):
    words = shlex.split(cmd)
    assert words[:2] == ["python", f"stages/{Path(words[1]).name}"], cmd
    script = ROOT / words[1]
    needed = {script} | closure(script, stage_families(name, words[2:]))
    declared = [ROOT / d for d in deps]
    missing = sorted(
        str(p.relative_to(ROOT)) for p in needed
        if not any(p == d or p.is_relative_to(d) for d in declared)
    )
    assert not missing, f"{name}: dvc.yaml lacks {missing}"
    for dep in declared:
        if not (dep.is_relative_to(SRC) or dep.is_relative_to(ROOT / "stages")):
            continue  # data and checkpoints
        files = set(dep.rglob("*.py")) if dep.is_dir() else {dep}
        extra = sorted(str(f.relative_to(ROOT)) for f in files - needed)
        assert not extra, f"{name}: depends on {dep.relative_to(ROOT)} but never runs {extra}"


def test_baseline_stages_cover_the_symbols():
    assert set(PARAMS["baseline"]) <= set(PARAMS["symbols"])
