"""Every DVC stage depends on exactly the code it runs: the files its script imports (package
`__init__`s and the families it loads by name included), and no other source file.

A stage missing a dependency leaves stale metrics after an edit; a superfluous one reruns work
that no change could affect. New stages are checked as soon as dvc.yaml lists them.
"""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest
import yaml
from dvc.repo import Repo

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
NEURAL = ("toto", "kronos")
# Modules that import a family by name (importlib) and the module each name resolves to.
DYNAMIC = {
    "cryptocast.forecast.registry": "cryptocast.models.{family}",
    "cryptocast.training": "cryptocast.training.{family}",
    "cryptocast.training.finetune": "cryptocast.training.finetune_{family}",
}


def module_path(name: str) -> Path | None:
    base = SRC.joinpath(*name.split("."))
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.exists():
            return path
    return None


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """cryptocast modules `path` imports (`from pkg import sub` counts `pkg.sub` if a module)."""
    package = module_name(path) if path.is_relative_to(SRC) else ""
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}".rstrip(".")
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] == "cryptocast" and module_path(name)}


def closure(script: Path, families: set[str]) -> set[Path]:
    """Every source file that running `script` executes (Python runs each parent package's
    __init__ first), with the dynamic family imports resolved for `families`."""
    seen: set[Path] = set()
    todo = sorted(imports(script))
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            path = module_path(".".join(parts[:i]))
            if path is None or path in seen:
                continue
            seen.add(path)
            todo.extend(imports(path))
            pattern = DYNAMIC.get(".".join(parts[:i]))
            if pattern:
                todo.extend(pattern.format(family=f) for f in families)
    return seen


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
    if group == "select":  # runs whichever config it selects
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
