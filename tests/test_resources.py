"""The page's templates/ and static/ are package data: an installed (non-editable) wheel serves every file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.system import missing

REPO = Path(__file__).resolve().parents[1]
PAGE_DIRS = ("oam_preview/static", "oam_preview/templates")

# Run in the installed copy: every page file over the app's routes, with its bytes.
SERVE_EVERY_FILE = """
import json, sys
from pathlib import Path
import oam_preview
from oam_preview import create_app
files, catalog = json.loads(sys.argv[1]), sys.argv[2]
root = Path(oam_preview.__file__).parent
client = create_app({"OAM_PREVIEW_CATALOG": catalog}).test_client()
page = client.get("/")
served = {"/": page.status_code}
for name in files:
    response = client.get("/static/" + name)
    same = response.data == (root / "static" / name).read_bytes()
    served[name] = response.status_code if same else "different bytes"
print(json.dumps({"package": str(root), "served": served}))
"""


def page_files() -> set[str]:
    """The checkout's page files, relative to the repository."""
    return {str(p.relative_to(REPO)) for d in PAGE_DIRS for p in (REPO / d).rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built by pip from a copy of the checkout (no build directory left in the repository)."""
    try:
        import wheel as _  # noqa: F401  (setuptools < 70.1 builds wheels with it)
    except ImportError:
        missing("the Python package wheel (pip install wheel)")
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "oam_preview", src / "oam_preview", ignore=shutil.ignore_patterns("__pycache__"))
    out = root / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("*.whl")
    return built


def test_the_wheel_holds_every_page_file(wheel):
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    assert page_files() <= shipped, page_files() - shipped
    assert "oam_preview/templates/oam_preview/index.html" in shipped


def test_an_installed_wheel_serves_every_page_file(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    catalog = tmp_path / "catalog.geojson"
    record = {
        "type": "Feature",
        "id": "one",
        "geometry": {"type": "Point", "coordinates": [0, 0]},
        "properties": {"source_url": "https://example.org/one.tif"},  # never read: the page asks no pixels
    }
    catalog.write_text(json.dumps({"type": "FeatureCollection", "features": [record]}))
    static = REPO / "oam_preview" / "static"
    files = sorted(str(p.relative_to(static)) for p in static.rglob("*") if p.is_file())
    done = subprocess.run(
        [sys.executable, "-c", SERVE_EVERY_FILE, json.dumps(files), str(catalog)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,  # not the checkout: its oam_preview/ would be imported instead
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["package"] == str(target / "oam_preview")
    assert {name: status for name, status in answer["served"].items() if status != 200} == {}
    assert len(answer["served"]) == len(files) + 1
