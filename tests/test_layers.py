"""The package layers: every import inside cryptocast points to a lower layer, so no import
runs back up (models never import evaluation, evaluation never imports tuning, and so on).
The registry's import of a model family by name (importlib) is the one sanctioned way up."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "cryptocast"
LAYERS = [("config", "io", "code", "layout", "database"), ("runtime",), ("data",), ("forecast",),
          ("models",), ("evaluation",), ("training", "tuning"), ("report", "monitor"),
          ("cli", "__init__")]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def package(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = ([node.module] if isinstance(node, ast.ImportFrom) and node.level == 0
                 and node.module else
                 [a.name for a in node.names] if isinstance(node, ast.Import) else [])
        found |= {n.split(".")[1] for n in names if n.startswith("cryptocast.")}
    return found


def test_every_import_points_to_a_lower_layer():
    files = sorted(SRC.rglob("*.py"))
    assert {package(f) for f in files} <= set(RANK), "a new package needs a layer here"
    upward = [f"{f.relative_to(SRC)} imports cryptocast.{target}"
              for f in files for target in imports(f)
              if target != package(f) and RANK[target] >= RANK[package(f)]]
    assert not upward, upward
