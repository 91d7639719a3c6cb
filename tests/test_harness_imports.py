"""The test harness's one rule of shape: what tests share lives in ``tests/support``.

No file under ``tests/`` or ``benchmarks/`` imports a test module (``test_*.py``) or a conftest
(pytest gives conftests their fixtures; importing one runs its module-level set-up twice and
hides where a helper lives), and no benchmark edits ``sys.path`` (they run as ``python -m
benchmarks.x`` from the repository root and import ``tests.support`` as a package).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHECKED = ("tests", "benchmarks")


def python_files() -> list[Path]:
    return sorted(p for folder in CHECKED for p in (REPO / folder).rglob("*.py"))


def module_name(path: Path) -> str:
    """``tests/browser/test_page.py`` -> ``tests.browser.test_page``."""
    return ".".join(path.relative_to(REPO).with_suffix("").parts)


def imported_modules(source: str, module: str) -> list[tuple[int, str]]:
    """Every module the source of ``module`` imports, absolute (relative imports resolved), with
    its line; ``from package import name`` counts ``package.name`` too, as ``name`` may be a module."""
    package = module.split(".")[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            imported = ".".join([*base, *(node.module.split(".") if node.module else [])])
            found.append((node.lineno, imported))
            found += [(node.lineno, f"{imported}.{alias.name}") for alias in node.names]
    return found


def is_test_module_or_conftest(module: str) -> bool:
    parts = module.split(".")
    return parts[-1] == "conftest" or (parts[0] == "tests" and parts[-1].startswith("test_"))


def test_no_file_imports_a_test_module_or_a_conftest():
    offending = [
        f"{path.relative_to(REPO)}:{line}: imports {module}"
        for path in python_files()
        for line, module in imported_modules(path.read_text(), module_name(path))
        if is_test_module_or_conftest(module)
    ]
    assert offending == [], "move what is shared into tests/support:\n" + "\n".join(offending)


@pytest.mark.parametrize(
    "line",
    [
        "from .conftest import LiveApp",
        "from . import test_page",
        "from ..test_export import finished",
        "import tests.conftest",
        "from tests.browser.test_page import goto",
        "    from .test_page import wait_js",
    ],
)
def test_the_check_refuses_each_way_of_importing_one(line):
    source = f"def f():\n{line}\n" if line.startswith(" ") else line
    imported = [m for _, m in imported_modules(source, "tests.browser.test_sample")]
    assert any(is_test_module_or_conftest(m) for m in imported), imported


def test_the_check_allows_the_support_modules():
    imported = [
        m for _, m in imported_modules("from ..support.page import goto", "tests.browser.test_sample")
    ]
    assert imported == ["tests.support.page", "tests.support.page.goto"]
    assert not any(is_test_module_or_conftest(m) for m in imported)


def test_no_benchmark_edits_sys_path():
    edits = [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for path in sorted((REPO / "benchmarks").glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Attribute)
        and node.attr == "path"
        and isinstance(node.value, ast.Name)
        and node.value.id == "sys"
    ]
    assert edits == [], "benchmarks run as `python -m benchmarks.x`; no sys.path edits:\n" + "\n".join(edits)


def test_every_benchmark_import_resolves():
    """Imports inside functions too (a bare ``from servers import …`` left from before the
    benchmarks were a package failed only when ``tiles.py`` reached its memory phase): no bare
    import of a sibling module, and every first-party module named is a file of the repository
    (looked up, not imported: a benchmark sets the environment when imported). Third-party ones
    (matplotlib, TiTiler: the bench extras) are the scripts' own to check."""
    siblings = {p.stem for p in (REPO / "benchmarks").glob("*.py")}
    unresolved = [
        f"{path.relative_to(REPO)}:{line}: {module}"
        for path in sorted((REPO / "benchmarks").glob("*.py"))
        for line, module in imported_modules(path.read_text(), module_name(path))
        if module.split(".")[0] in siblings
        or (module.split(".")[0] in FIRST_PARTY and not _in_repository(module))
    ]
    assert unresolved == [], "imports that do not resolve:\n" + "\n".join(unresolved)


#: The repository's own packages.
FIRST_PARTY = {"benchmarks", "tests", "oam_preview"}


def _in_repository(module: str) -> bool:
    """Whether ``module`` is a module or package of the repository; ``package.name`` (``from
    package import name``) also when ``package`` is one (``name`` may be an attribute)."""
    parts = module.split(".")
    for depth in (len(parts), len(parts) - 1):
        path = REPO.joinpath(*parts[:depth])
        if depth and (path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()):
            return True
    return False
