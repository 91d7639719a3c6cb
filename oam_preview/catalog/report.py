"""``oam-preview catalog SRC``: what a catalog source yields, for an operator."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TextIO

from ..config import Settings
from ..errors import OamPreviewError, UpstreamError
from ..remote.policy import UpstreamPolicy, upstream_kind
from ..remote.probe import probe
from .model import Image
from .served import served_catalog

#: Hosts asked at once by :func:`host_warnings`.
PROBES_AT_ONCE = 8


def print_report(src: str, out: TextIO, first: int = 5) -> int:
    """Load ``src`` and print its count, skipped records with reasons, and the first records.

    Returns the number of usable images. ``CatalogError`` when the source as a
    whole cannot be read.
    """
    started = time.perf_counter()
    catalog = served_catalog(src)
    seconds = time.perf_counter() - started
    print(
        f"{src}: {len(catalog)} images, {len(catalog.skipped)} skipped ({seconds:.2f} s)",
        file=out,
    )
    for name, reason in catalog.skipped:
        print(f"  skipped {name}: {reason}", file=out)
    for warning in host_warnings(catalog.images, Settings.from_env()):
        print(f"Warning: {warning}", file=out)
    for image in catalog.images[:first]:
        print(describe(image), file=out)
    if len(catalog) > first:
        print(f"  … and {len(catalog) - first} more", file=out)
    return len(catalog)


def describe(image: Image) -> str:
    """A few lines about one image: id, title, GeoTIFF URL, bbox (degrees), GSD (m), dates."""
    bbox = "none" if image.bbox is None else ", ".join(f"{v:.5f}" for v in image.bbox)
    gsd = "unknown" if image.gsd is None else f"{image.gsd:.3g} m"
    start = image.acquisition_start.isoformat() if image.acquisition_start else "?"
    end = image.acquisition_end.isoformat() if image.acquisition_end else "?"
    shape = image.footprint.geom_type if image.footprint is not None else "no footprint"
    return (
        f"  {image.id}  {image.title!r}\n"
        f"    url: {image.source_url}\n"
        f"    bbox: [{bbox}] ({shape})  gsd: {gsd}  acquired: {start} .. {end}\n"
        f"    provider: {image.provider or '?'}  license: {image.license or '?'}"
    )


def host_warnings(images: Sequence[Image], settings: Settings) -> list[str]:
    """What serving ``images`` would run into, host by host: each http(s) host's first image asked
    once (one ranged ``GET`` through the upstream policy, within ``settings.upstream_timeout``
    seconds); a line for a host refused by the policy, a name that does not resolve, a failed
    answer, or a server that ignores ``Range``. Local files are not asked."""
    hosts: dict[tuple[str, str, int | None], list[Image]] = {}
    for image in images:
        if upstream_kind(image.source_url) == "http":
            parts = urllib.parse.urlsplit(image.source_url)
            try:
                port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
            except ValueError:  # a port out of range: the policy refuses it, and says so
                port = None
            hosts.setdefault((parts.scheme.lower(), (parts.hostname or "").lower(), port), []).append(image)
    policy = UpstreamPolicy.from_setting(settings.upstream_allow)

    def ask(first: Image) -> str | None:
        try:
            reach = probe(first.source_url, settings.upstream_timeout, policy.urlopen)
        except OamPreviewError as exc:
            return exc.message
        return None if reach.range_supported else UpstreamError.range_ignored().message

    with ThreadPoolExecutor(PROBES_AT_ONCE) as pool:
        found = list(pool.map(ask, [listed[0] for listed in hosts.values()]))
    warnings = []
    for ((_, host, port), listed), problem in zip(hosts.items(), found, strict=True):
        if problem is not None:
            name = f"[{host}]" if ":" in host else host
            count = f"{len(listed)} image" + ("s" if len(listed) != 1 else "")
            warnings.append(f"host {name}:{port} ({count}): {problem}")
    return warnings
