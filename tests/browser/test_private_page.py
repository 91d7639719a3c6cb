"""The page's token login (issue 36): private images listed, marked, their thumbnails loading
through signed URLs; the token in session storage only, never in the page's URL."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from ..support.apps import serve_app
from ..support.catalog_documents import write_catalog
from ..support.page import ROW, assert_no_console_errors, expect_rows, goto, wait_js

pytestmark = pytest.mark.browser

TOKEN = "page-login-token-0123456789"


def test_the_page_logs_in_with_a_token_and_marks_private_images(
    browser_page, browser_geotiffs, browser_images, tmp_path
):
    catalog = write_catalog(tmp_path / "catalog.geojson", browser_images, browser_geotiffs)
    doc = json.loads(catalog.read_text())
    secret_id = doc["features"][0]["id"]
    doc["features"][0]["properties"]["private"] = True
    catalog.write_text(json.dumps(doc))
    access = Path(tmp_path / "access.toml")
    access.write_text(
        f'signing_key = "{"s" * 40}"\n[tokens.page]\nsha256 = "{hashlib.sha256(TOKEN.encode()).hexdigest()}"\n'
        'images = ["*"]\n'
    )
    everyone = {i.id for i in browser_images}
    with serve_app(catalog, images=browser_images, config={"OAM_PREVIEW_ACCESS": str(access)}) as live:
        page = browser_page
        goto(page, live)
        expect_rows(page, everyone - {secret_id})
        page.fill("#login-token", TOKEN)
        page.click("#login-button")
        expect_rows(page, everyone)
        badge = page.locator(f"{ROW}[data-id='{secret_id}'] .row-private")
        expect(badge).to_have_text("private")
        wait_js(
            page,
            f"() => {{ const img = document.querySelector(\".row[data-id='{secret_id}'] img.thumb\");"
            " return img && img.complete && img.naturalWidth > 0; }",
        )
        assert page.evaluate("() => sessionStorage.getItem('oam-preview-token')") == TOKEN
        assert TOKEN not in page.url
        page.click("#logout-button")
        expect_rows(page, everyone - {secret_id})
        assert page.evaluate("() => sessionStorage.getItem('oam-preview-token')") is None
        assert_no_console_errors(page)
