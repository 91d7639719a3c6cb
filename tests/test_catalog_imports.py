"""Every catalog module imports first in a fresh interpreter: the package has no import circle."""

from __future__ import annotations

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
