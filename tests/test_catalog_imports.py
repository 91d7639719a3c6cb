"""Every catalog module imports first in a fresh interpreter: the package has no import circle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import oam_preview.catalog

CATALOG = Path(oam_preview.catalog.__file__).resolve().parent
MODULES = sorted(f"oam_preview.catalog.{p.stem}" for p in CATALOG.glob("*.py") if p.stem != "__init__")


def test_the_catalog_has_its_modules() -> None:
    assert {"oam_preview.catalog.sources", "oam_preview.catalog.stac", "oam_preview.catalog.geojson"} <= set(
        MODULES
    )


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_first(module: str) -> None:
    """Imported before anything else of the package, each module must load (a circle held
    together by import order fails here with "partially initialized module")."""
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        cwd=CATALOG.parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_public_names() -> None:
    from oam_preview.catalog import Catalog, CatalogError, Image, SearchResult, load, load_document

    assert all((Catalog, CatalogError, Image, SearchResult, load, load_document))


def module_level_imports(path: Path) -> set[str]:
    """The catalog modules ``path`` imports at its top level (imports inside functions are lazy)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:  # from .x import y
                found.add(node.module.split(".")[0])
            else:  # from . import x, y
                found.update(alias.name for alias in node.names)
    return found - {"__init__"}


def test_no_import_circle_among_catalog_modules() -> None:
    """The top-level imports between catalog modules form no cycle. (Importing a module first,
    above, hides a circle as long as the package's ``__init__`` imports the right one first.)"""
    graph = {p.stem: module_level_imports(p) for p in CATALOG.glob("*.py") if p.stem != "__init__"}
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        if state.get(module) == "done":
            return
        assert state.get(module) != "open", "import circle: " + " -> ".join([*path, module])
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            visit(target, [*path, module])
        state[module] = "done"

    for module in sorted(graph):
        visit(module, [])
