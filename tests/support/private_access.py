"""The operator's access file of the privacy tests (``OAM_PREVIEW_ACCESS``): two API tokens and a
signing key, and how a test sends a token."""

from __future__ import annotations

import hashlib
from pathlib import Path

#: 2027-01-01T00:00:00Z, the records' embargo end, and a moment before it (Unix seconds).
EMBARGO_END = 1798761600
BEFORE = EMBARGO_END - 30 * 86400
PARTNER_TOKEN = "partner-token-0123456789"  # token "partner": group "ngo"
ONE_IMAGE_TOKEN = "one-image-token-0123456789"  # token "one-image": image "embargoed"
SIGNING_KEY = "k" * 40


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
