"""What a test does when a system package it drives is missing: skip on a developer's machine,
fail in CI (``CI=true``, any case), where ``.ci/run`` installs every package the tests need."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def in_ci() -> bool:
    """True under CI (``CI=true``, ``CI=TRUE``, ...)."""
    return os.environ.get("CI", "").strip().lower() == "true"


def missing(what: str) -> None:
    """Skip the test because ``what`` is not installed; in CI, fail it instead."""
    if in_ci():
        pytest.fail(f"{what} is missing in CI (.ci/run and `make test` install it)", pytrace=False)
    pytest.skip(f"{what} is not installed")


def need_module(name: str) -> ModuleType:
    """``pytest.importorskip`` that fails in CI: ``name`` imported, or the test skipped or failed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"the Python package {name}")
        raise  # unreachable: missing() raises
