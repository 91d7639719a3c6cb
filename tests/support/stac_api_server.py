"""A small STAC API on 127.0.0.1 for tests and the catalog benchmark: real HTTP, in a thread.

``/search`` answers GET (``limit``, ``token`` in the query; next links are GET
links) and POST (a JSON body ``{"limit", "token"}``; next links are POST links
with ``"merge": true`` and only the token in their body, so the client must
merge it into the body it sent). ``/collections/{id}/items`` pages like GET
``/search``. Items are OpenAerialMap-style STAC items (``oam:producer_name``,
``oam:platform_type``, ``image`` and ``thumbnail`` assets, ``proj:code``, ``gsd``).

Faults, set on the server object: ``fail_once`` (tokens whose first request
answers 500), ``post_links`` (``/search`` answers a GET with a POST next link
whose body carries ``limit`` and the token, a POST with one of the token
alone, ``"merge": true``), ``token_ttl`` (seconds a token stays valid; an expired one
answers 400), ``matched`` (``"numberMatched"``, ``"context"`` or ``None``: where,
if anywhere, the total is given). Static documents (``documents``) are
served with an ``ETag`` and answer ``If-None-Match`` with 304. Every request
is counted in ``hits`` by ``(method, path)``.
"""

from __future__ import annotations

import base64
import collections
import http.server
import json
import threading
import time
import urllib.parse
from typing import Any

from .loopback import LoopbackServer


def oam_item(n: int, geotiff_url: str = "https://example.org") -> dict[str, Any]:
    """The ``n``-th item: a 0.01° square on a grid, OAM's fields, dates and gsds that vary."""
    west, south = -170.0 + (n % 340), -60.0 + (n // 340) % 120
    ring = [
        [west, south],
        [west + 0.01, south],
        [west + 0.01, south + 0.01],
        [west, south + 0.01],
        [west, south],
    ]
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": f"oam-{n:05d}",
        "collection": "openaerialmap",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "bbox": [west, south, west + 0.01, south + 0.01],
        "properties": {
            "title": f"Scene {n}",
            "oam:producer_name": f"Producer {n % 5}",
            "oam:platform_type": ("uav", "aircraft", "satellite")[n % 3],
            "gsd": 0.05 * (1 + n % 7),
            "license": "CC-BY-4.0",
            "datetime": f"20{10 + n % 15}-0{1 + n % 9}-1{n % 10}T10:00:00Z",
            "providers": [{"name": "Someone else", "roles": ["host"]}],
        },
        "assets": {
            "image": {
                "href": f"{geotiff_url}/oam/{n}.tif",
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "proj:code": "EPSG:3857",
            },
            "thumbnail": {"href": f"{geotiff_url}/oam/{n}_thumb.png", "type": "image/png"},
        },
        "links": [],
    }


class StacApiServer:
    """The API over ``items`` (dicts), ``page_size`` a page unless the request asks ``limit``."""

    def __init__(self, items: list[dict[str, Any]], page_size: int = 100) -> None:
        self.items = items
        self.page_size = page_size
        self.fail_once: set[int] = set()  # offsets whose first request fails with a 500
        self.token_ttl: float | None = None
        self.matched: str | None = "numberMatched"
        self.post_links = False  # next links of /search are POST links, even after a GET
        self.documents: dict[str, bytes] = {}
        self.hits: collections.Counter[tuple[str, str]] = collections.Counter()
        self.not_modified = 0
        self._lock = threading.Lock()
        self.server = LoopbackServer(self._handler())

    @property
    def url(self) -> str:
        return self.server.url

    def close(self) -> None:
        self.server.close()

    def __enter__(self) -> StacApiServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- tokens: the offset and when the token was made --------------------------------

    def token(self, offset: int) -> str:
        raw = json.dumps([offset, time.time()]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _offset(self, token: str | None) -> int:
        """The offset a token stands for; ``ValueError`` for a bad or expired one."""
        if not token:
            return 0
        offset, made = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if self.token_ttl is not None and time.time() - made > self.token_ttl:
            raise ValueError("token expired")
        return int(offset)

    # -- pages ---------------------------------------------------------------------------

    def page(self, path: str, offset: int, limit: int, post: bool) -> dict[str, Any]:
        features = self.items[offset : offset + limit]
        doc: dict[str, Any] = {"type": "FeatureCollection", "features": features, "links": []}
        if self.matched == "numberMatched":
            doc["numberMatched"] = len(self.items)
            doc["numberReturned"] = len(features)
        elif self.matched == "context":
            doc["context"] = {"returned": len(features), "limit": limit, "matched": len(self.items)}
        if offset + limit < len(self.items):
            token = self.token(offset + limit)
            if path == "/search" and (post or self.post_links):
                # After a POST only the token: the client merges it into the body it sent.
                link = {
                    "rel": "next",
                    "href": self.url + path,
                    "method": "POST",
                    "body": {"token": token} if post else {"limit": limit, "token": token},
                    "merge": post,
                    "type": "application/geo+json",
                }
            else:
                query = urllib.parse.urlencode({"limit": limit, "token": token})
                link = {"rel": "next", "href": f"{self.url}{path}?{query}", "type": "application/geo+json"}
            doc["links"].append(link)
        return doc

    def answer(
        self, method: str, raw_path: str, body: dict[str, Any], headers: Any
    ) -> tuple[int, bytes, dict]:
        parts = urllib.parse.urlsplit(raw_path)
        with self._lock:
            self.hits[(method, parts.path)] += 1
        if parts.path in self.documents:
            data = self.documents[parts.path]
            etag = f'"{hash(data) & 0xFFFFFFFF:x}"'
            if headers.get("If-None-Match") == etag:
                with self._lock:
                    self.not_modified += 1
                return 304, b"", {"ETag": etag}
            return 200, data, {"ETag": etag, "Last-Modified": "Tue, 01 Dec 2026 10:00:00 GMT"}
        is_items = parts.path.startswith("/collections/") and parts.path.endswith("/items")
        if parts.path != "/search" and not is_items:
            return 404, b'{"code": "NotFound"}', {}
        args = dict(urllib.parse.parse_qsl(parts.query)) if method == "GET" else body
        if method == "POST" and is_items:
            return 405, b'{"code": "MethodNotAllowed"}', {}
        try:
            offset = self._offset(args.get("token"))
            limit = int(args.get("limit") or self.page_size)
        except (ValueError, TypeError) as exc:
            return 400, json.dumps({"code": "InvalidParameter", "description": str(exc)}).encode(), {}
        with self._lock:
            if offset in self.fail_once:
                self.fail_once.discard(offset)
                return 500, b'{"code": "InternalServerError"}', {}
        doc = self.page(parts.path, offset, limit, post=method == "POST")
        return 200, json.dumps(doc).encode(), {}

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, method: str, body: dict[str, Any]) -> None:
                status, data, headers = server.answer(method, self.path, body, self.headers)
                self.send_response(status)
                if data:
                    self.send_header("Content-Type", "application/geo+json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._reply("GET", {})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    body = None
                if not isinstance(body, dict):
                    self.send_error(400)
                    return
                self._reply("POST", body)

        return Handler
