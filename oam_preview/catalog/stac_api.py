"""STAC API paging: the ``rel="next"`` links of an ItemCollection, followed page by page.

A STAC API's ``/search`` and ``/collections/{id}/items`` answer one page of
items with a ``next`` link: a GET link carries its token in the query; a POST
link (``"method": "POST"``) carries a JSON ``body``, merged into the previous
request's body when ``"merge": true`` (STAC API - Item Search, "Paging").
Only ``next`` links are followed, and only to http(s) URLs (:func:`resolve_href`'s
rule): a page never makes the server read a local file. Link ``headers`` are
not sent. A page that fails is retried a little, then fails the whole load.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .fetch import fetch_json_retrying, is_url, resolve_href
from .records import CatalogError

log = logging.getLogger(__name__)

#: The most pages followed from one first page, whatever the links say.
MAX_PAGES = 100_000


@dataclass(frozen=True)
class PageRequest:
    """How one page is asked for: ``href``, ``method`` and, for a POST, its JSON ``body``."""

    href: str
    method: str = "GET"
    body: Mapping[str, Any] | None = None

    def key(self) -> str:
        """The request as text, to notice a server that links a page already read."""
        return json.dumps([self.href, self.method, self.body], sort_keys=True, default=str)


def next_request(doc: Mapping[str, Any], base: str, previous: PageRequest) -> PageRequest | None:
    """The request of the page after ``doc`` (read from ``base`` by ``previous``); ``None`` on the
    last page, ``ValueError`` for a ``next`` link that must not be followed."""
    links = [x for x in doc.get("links") or [] if isinstance(x, dict) and x.get("rel") == "next"]
    if not links:
        return None
    link = links[0]
    href = resolve_href(base, link.get("href"))
    if not is_url(href):
        raise ValueError(f"next link {link.get('href')!r} is not an http(s) URL")
    method = str(link.get("method") or "GET").upper()
    if method not in ("GET", "POST"):
        raise ValueError(f"next link method {method!r} is neither GET nor POST")
    body = link.get("body")
    if body is not None and not isinstance(body, dict):
        raise ValueError("next link body is not a JSON object")
    if method == "GET":
        return PageRequest(href)
    if link.get("merge") is True and previous.body:
        body = {**previous.body, **(body or {})}
    return PageRequest(href, "POST", body or {})


def number_matched(doc: Mapping[str, Any]) -> int | None:
    """How many items the whole search matches: ``numberMatched``, else the older
    ``context.matched``; ``None`` when the API does not say."""
    value = doc.get("numberMatched")
    context = doc.get("context")
    if value is None and isinstance(context, dict):
        value = context.get("matched")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def has_next(doc: Any) -> bool:
    """Whether ``doc`` is an ItemCollection that links a next page."""
    return isinstance(doc, dict) and any(
        isinstance(x, dict) and x.get("rel") == "next" for x in doc.get("links") or []
    )


def following_pages(doc: Mapping[str, Any], base: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The pages after ``doc`` (the first page, read from the http(s) URL ``base``), each as
    ``(its URL, its ItemCollection)``. Stops at a page without ``next``, an empty page or a
    page already read; :class:`CatalogError` when a page cannot be read or links one that
    must not be followed."""
    request = PageRequest(base)
    seen = {request.key()}
    page = 1
    while True:
        try:
            request_next = next_request(doc, request.href, request)
        except ValueError as exc:
            raise CatalogError(f"STAC API page {page} of {base}: {exc}") from None
        if request_next is None:
            return
        if request_next.key() in seen:
            log.warning("catalog %s: page %d links a page already read; stopping", base, page)
            return
        if page >= MAX_PAGES:
            log.warning("catalog %s: stopping after %d pages", base, MAX_PAGES)
            return
        request, page = request_next, page + 1
        seen.add(request.key())
        doc = fetch_json_retrying(
            request.href, f"STAC API page {page}", method=request.method, body=request.body
        )
        if not (
            isinstance(doc, dict)
            and doc.get("type") == "FeatureCollection"
            and isinstance(doc.get("features"), list)
        ):
            raise CatalogError(f"STAC API page {page} ({request.href}) is not an ItemCollection")
        if not doc["features"]:
            return
        yield request.href, doc
