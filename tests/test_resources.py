"""The page's templates/ and static/ are found in a checkout and in an installed wheel."""

from __future__ import annotations

import configparser
from pathlib import Path

from oam_preview.web.resources import PACKAGE_DIR, resource_dir

REPO = Path(__file__).resolve().parents[1]


def test_a_checkout_uses_the_directories_beside_the_package():
    assert resource_dir("templates") == REPO / "templates"
    assert resource_dir("static") == REPO / "static"
    assert (resource_dir("templates") / "oam_preview" / "index.html").is_file()


def test_an_installed_wheel_uses_its_data_files(tmp_path):
    package = tmp_path / "site-packages" / "oam_preview"  # no templates/ beside it
    package.mkdir(parents=True)
    share = tmp_path / "prefix" / "share" / "oam-preview" / "static"
    share.mkdir(parents=True)
    assert resource_dir("static", package_dir=package, prefix=str(tmp_path / "prefix")) == share


def test_the_wheel_ships_every_page_file():
    """setup.cfg's data_files name every file of templates/ and static/, where resource_dir looks."""
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    shipped = set()
    for target, files in config["options.data_files"].items():
        assert target.startswith("share/oam-preview/"), target
        shipped |= {f.strip() for f in files.replace("\n", ",").split(",") if f.strip()}
    on_disk = {
        str(p.relative_to(REPO))
        for d in ("templates", "static")
        for p in (REPO / d).rglob("*")
        if p.is_file()
    }
    assert on_disk <= shipped, on_disk - shipped
    assert PACKAGE_DIR.name == "oam_preview"
