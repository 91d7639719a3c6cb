"""The ``OAM_PREVIEW_*`` settings: each one documented where an operator looks for it."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from oam_preview.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_in_the_api_document():
    documented = (ROOT / "docs" / "API.md").read_text()
    missing = [f.name for f in fields(Settings) if f"`OAM_PREVIEW_{f.name.upper()}`" not in documented]
    assert not missing, f"settings without a row in docs/API.md: {missing}"
