"""The dependency direction of docs/architecture.md, checked on every import in ``src``.

Every ``import``/``from ... import`` counts, also those inside functions and
under ``TYPE_CHECKING``: a lazy import still couples the two modules.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
# Lowest first. A unit imports its own modules and those of lower layers only;
# units of one layer (peers) never import each other: `server` never imports
# `platform` (the app factory, on top, is where they meet for role `all`).
LAYERS = [
    {"errors", "states", "durable"},
    {"image_formats", "settings", "predictions", "metrics", "stale"},
    {"images", "http"},
    {"models", "activelearning", "predlog"},
    {"platform", "server", "stream"},
    {"evaluation", "backtest"},
    {"web"},
    {"app"},
    {"cli"},
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def modules() -> dict[str, Path]:
    """Every module of ``src/winnow`` by dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``path`` imports (``from pkg import mod`` counts as ``pkg.mod``)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                out.add(name if name in known else node.module)
    return {name for name in out if name in known}


def unit(module: str) -> str:
    """``winnow.platform.store.images`` -> ``platform``; ``winnow.app`` -> ``app``."""
    return module.split(".")[1] if "." in module else module


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, known) - {name} for name, path in known.items()}


def test_every_unit_has_a_layer() -> None:
    assert {unit(m) for m in graph() if m != "winnow"} == set(RANK)


def test_imports_follow_the_layers() -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph().items()
        if module != "winnow"
        for target in targets
        if unit(target) != unit(module) and RANK[unit(target)] >= RANK[unit(module)]
    )
    assert wrong == []


def test_no_import_cycle_between_modules() -> None:
    try:
        TopologicalSorter(graph()).prepare()
    except CycleError as exc:
        # graphlib lists each module before the one that imports it.
        cycle = " imports ".join(reversed(exc.args[1]))
        raise AssertionError(f"import cycle: {cycle}") from None
