"""Where the page's ``templates/`` and ``static/`` files are, in a checkout and in an installed wheel.

In a checkout they sit at the repository's top, beside the package; a wheel
installs them as data files under ``<prefix>/share/oam-preview/``
(``setup.cfg``'s ``data_files``).
"""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # oam_preview/


def resource_dir(name: str, package_dir: Path = PACKAGE_DIR, prefix: str | None = None) -> Path:
    """The ``templates`` or ``static`` directory: beside ``package_dir`` (a checkout), else
    under ``prefix`` (default ``sys.prefix``) ``/share/oam-preview/`` (an installed wheel)."""
    checkout = package_dir.parent / name
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix if prefix is None else prefix) / "share" / "oam-preview" / name
