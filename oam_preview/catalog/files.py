"""GeoTIFFs without a catalog: a text file of their URLs, or a local directory of them.

Each image's id is a slug of its file name and its footprint, bbox and GSD
come from the file's own header, read through the service's opener
(:mod:`.headers`): for a remote file that is one or two small range requests. Headers are read a few at a
time (:data:`HEADER_CONCURRENCY`) so a list of thousands neither crawls
nor floods the server holding the files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .fetch import href_file_stem, is_url, resolve_href
from .headers import DatasetOpener, HeaderError, LazyOpener, read_header
from .model import slugify
from .progress import Progress
from .records import (
    Record,
    Skip,
    build_image,
)

#: Headers read at once: the Opener's bulkhead admits 4 reads of one host by default
#: (``OAM_PREVIEW_UPSTREAM_HOST_READS``); more threads would only queue there.
HEADER_CONCURRENCY = 4
GEOTIFF_SUFFIXES = (".tif", ".tiff")


# -- Sources ---------------------------------------------------------------------------


def url_list_entries(text: str) -> list[str]:
    """The non-blank lines of a URL list that are not ``#`` comments, stripped."""
    entries = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            entries.append(line)
    return entries


def is_url_list(text: str) -> bool:
    """Whether ``text`` is a list of GeoTIFF URLs or paths, one a line.

    Every entry must be one word (so an HTML error page or prose is not
    taken for a list), and at least one must be an http(s) URL or end in
    ``.tif``/``.tiff``.
    """
    entries = url_list_entries(text)
    return (
        bool(entries)
        and all(len(entry.split()) == 1 for entry in entries)
        and any(is_url(e) or e.lower().endswith(GEOTIFF_SUFFIXES) for e in entries)
    )


def load_url_list(text: str, base: str, opener: DatasetOpener | None = None) -> Iterator[Record]:
    """Images of a text file of GeoTIFF URLs (relative ones resolved against ``base``).

    A list read over http(s) may only name http(s) URLs; a local list may
    also name local paths.
    """
    targets: list[tuple[str, str]] = []  # (href as written, resolved)
    for entry in url_list_entries(text):
        try:
            targets.append((entry, resolve_href(base, entry)))
        except ValueError as exc:
            yield Skip(entry, str(exc))
    yield from read_headers(targets, opener)


def load_directory(root: Path, opener: DatasetOpener | None = None) -> Iterator[Record]:
    """Images of every GeoTIFF under ``root`` (recursively, hidden entries left out), by path."""
    root = root.resolve()
    paths = sorted(
        path
        for path in root.rglob("*")
        if path.suffix.lower() in GEOTIFF_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
        and path.is_file()
    )
    yield from read_headers([(str(path.relative_to(root)), str(path)) for path in paths], opener)


def read_headers(targets: Sequence[tuple[str, str]], opener: DatasetOpener | None = None) -> Iterator[Record]:
    """One record per ``(name, path or URL)``, in order, headers read concurrently through
    ``opener`` (default: a :class:`LazyOpener`)."""
    reader = opener if opener is not None else LazyOpener()
    progress = Progress("GeoTIFF headers", len(targets))
    try:
        with ThreadPoolExecutor(max_workers=HEADER_CONCURRENCY) as pool:
            for record in pool.map(lambda target: header_record(target[0], target[1], reader), targets):
                progress.update()
                yield record
    finally:
        progress.close()


def header_record(name: str, location: str, opener: DatasetOpener) -> Record:
    """The image of one GeoTIFF (id: slug of its file name), or a :class:`Skip` saying why not."""
    try:
        header = read_header(opener, location)
    except HeaderError as exc:
        return Skip(name, str(exc))
    file_name = href_file_stem(location)
    return build_image(
        image_id=slugify(file_name),
        source_url=location,
        title=os.path.basename(location.split("?", 1)[0]) or file_name,
        footprint=header.footprint,
        gsd=header.gsd,
        properties=header.info,
    )
