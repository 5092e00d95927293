"""The source files a piece of the pipeline runs: a script's import closure within cryptocast.

DVC stages must depend on exactly these files (tests/test_dvc_deps.py), and the sweep's study
fingerprint hashes them, so a change of any code that scores a trial starts a new study.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from pathlib import Path

SRC = Path(__file__).resolve().parents[1]
# Modules that import a family by name (importlib) and the module each name resolves to.
DYNAMIC = {
    "cryptocast.forecast.registry": "cryptocast.models.{family}",
    "cryptocast.training": "cryptocast.training.{family}",
    "cryptocast.training.finetune": "cryptocast.training.finetune_{family}",
}


def module_path(name: str) -> Path | None:
    """The file of a cryptocast module (a package's __init__.py), or None."""
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


def closure(script: Path, families: Iterable[str]) -> set[Path]:
    """Every source file that running `script` (a file, or a cryptocast module's file)
    executes: its imports, each parent package's __init__ (Python runs them first), and the
    families it loads by name resolved for `families`."""
    families = sorted(families)
    seen: set[Path] = set()
    todo = sorted(imports(script))
    if script.is_relative_to(SRC):
        todo.append(module_name(script))
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


def closure_sha256(module: str, families: Iterable[str]) -> str:
    """SHA-256 over the relative paths and bytes of `module`'s import closure."""
    digest = hashlib.sha256()
    for path in sorted(closure(module_path(module), families)):
        digest.update(str(path.relative_to(SRC)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
