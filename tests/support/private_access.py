"""The operator's access file of the privacy tests (``OAM_PREVIEW_ACCESS``): two API tokens and a
signing key, how a test sends a token, and an app over records of each kind of privacy."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from oam_preview import create_app
from oam_preview.catalog.sources import load_document

from .catalog_documents import COGEO_BOUNDS

#: 2027-01-01T00:00:00Z, the records' embargo end, and a moment before it (Unix seconds).
EMBARGO_END = 1798761600
BEFORE = EMBARGO_END - 30 * 86400
PARTNER_TOKEN = "partner-token-0123456789"  # token "partner": group "ngo"
ONE_IMAGE_TOKEN = "one-image-token-0123456789"  # token "one-image": image "embargoed"
SIGNING_KEY = "k" * 40


def privacy_clock(monkeypatch: Any, start: float) -> dict[str, float]:
    """The privacy rule's clock (``oam_preview.catalog.privacy.now``) set by the test: Unix
    seconds in ``["t"]`` of the mapping returned, ``start`` at first."""
    from oam_preview.catalog import privacy

    now = {"t": float(start)}
    monkeypatch.setattr(privacy, "now", lambda: now["t"])
    return now


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def write_access_file(path: Path) -> str:
    """The access file at ``path``: tokens ``partner`` (group ``ngo``) and ``one-image`` (image
    ``embargoed``), URLs signed for an hour, expiries rounded to 900 s."""
    path.write_text(
        f"""
signing_key = "{SIGNING_KEY}"
signed_url_ttl = 3600
expiry_bucket = 900

[tokens.partner]
sha256 = "{sha256(PARTNER_TOKEN)}"
groups = ["ngo"]

[tokens.one-image]
sha256 = "{sha256(ONE_IMAGE_TOKEN)}"
images = ["embargoed"]
"""
    )
    return str(path)


def app_with_private_records(tiff_server: Any, access_file: str, **config: Any) -> Any:
    """An app over three records of cogeo.tif on the test Range server, one footprint: ``open``
    (2020), ``secret`` (private, group ``ngo``, 2021), ``embargoed`` (until 2027, 2022), with the
    API tokens of ``access_file``."""
    w, s, e, n = COGEO_BOUNDS
    polygon = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}

    def record(image_id: str, year: int, **properties: Any) -> dict[str, Any]:
        props = {"source_url": f"{tiff_server.url}/cogeo.tif", "acquisition_start": f"{year}-01-01"}
        return {"type": "Feature", "id": image_id, "geometry": polygon, "properties": {**props, **properties}}

    features = [
        record("open", 2020),
        record("secret", 2021, private=True, group="ngo"),
        record("embargoed", 2022, embargo_until="2027-01-01"),
    ]
    catalog = load_document({"type": "FeatureCollection", "features": features})
    settings = {"OAM_PREVIEW_ACCESS": access_file, "OAM_PREVIEW_BASEMAP_URL": "", **config}
    return create_app(settings, catalog=catalog)
