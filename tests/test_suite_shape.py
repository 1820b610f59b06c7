"""The test suite's own shape: no test module (``test_*.py``) or ``conftest.py`` is imported.

Shared test code lives in library modules (``tests/factories.py``,
``tests/apps.py``, ``tests/fuzz/world.py``, ...); a test module that imports
another runs the other's tests' module-level code and couples their files.
The check reads every import in ``tests/``, ``bench/`` and ``scripts/``,
inside functions too, and inside string literals that are Python source (the
scripts tests hand to a child process).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("tests", "bench", "scripts")


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.AST, module: str) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every module ``tree`` imports or may import."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")[: -node.level]
                base = ".".join([*package, base] if base else package)
            yield node.lineno, base
            for alias in node.names:  # ``from tests.server import test_app`` imports a module
                yield node.lineno, f"{base}.{alias.name}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if "import " not in node.value:
                continue
            try:
                inner = ast.parse(node.value)
            except SyntaxError:
                continue
            for line, name in _imports(inner, module):
                yield node.lineno + line - 1, name


def _is_test_module(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return last.startswith("test_") or last == "conftest"


def imports_of_test_modules(root: Path, folders: tuple[str, ...] = FOLDERS) -> list[str]:
    """``file:line imports module`` for every import of a test module or conftest under ``root``."""
    found = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            if path == Path(__file__).resolve():
                continue  # its examples of what is forbidden are string literals
            module = _module_name(path, root)
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for line, name in _imports(tree, module):
                if name.startswith("tests.") and _is_test_module(name):
                    found.append(f"{path.relative_to(root)}:{line} imports {name}")
    return sorted(set(found))


def test_no_test_module_or_conftest_is_imported() -> None:
    assert imports_of_test_modules(ROOT) == []


@pytest.mark.parametrize(
    "source",
    [
        "from tests.server.test_app import AUTH\n",
        "import tests.platform.conftest\n",
        "from tests.server import test_app\n",
        "def f():\n    from tests.activelearning.test_outbox import FakeClock\n",
        'CHILD = """\nfrom tests.activelearning.test_delivery import X\n"""\n',
        "from .test_outbox import make_datapoint\n",
    ],
)
def test_the_check_finds_every_kind_of_test_module_import(tmp_path: Path, source: str) -> None:
    package = tmp_path / "tests" / "activelearning"
    package.mkdir(parents=True)
    (package / "library.py").write_text(source)
    (package / "clean.py").write_text("from tests.factories import make_jpeg\n")
    (found,) = imports_of_test_modules(tmp_path, ("tests",))
    assert found.startswith("tests/activelearning/library.py:")
