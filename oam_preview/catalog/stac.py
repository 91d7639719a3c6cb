"""STAC catalogs: Item, ItemCollection, Catalog and Collection, following their links.

A Catalog or Collection lists its items and sub-catalogs as ``links`` of rel
``item`` and ``child``, usually relative to the document; they are resolved
against where the document came from and followed, each document at most
once. An ItemCollection read over http(s) is a STAC API's first page: its
``next`` links are followed (:mod:`.stac_api`); the load's record cap
(``OAM_PREVIEW_CATALOG_MAX_RECORDS``) stops a search of millions.

Each item gives one image: its ``id``, and the GeoTIFF of the asset API.md
picks (``visual``, else ``image``, else ``data``, else the first GeoTIFF
asset, cloud-optimized ones first). OpenAerialMap's STAC conventions are read
too: ``oam:producer_name`` is the provider, ``oam:platform_type`` the platform
(else STAC's ``platform``), and the ``thumbnail`` asset's href is kept as the
Feature property ``source_thumbnail`` (the server still renders its own).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from . import stac_api
from .fetch import fetch_text, is_url, resolve_href
from .model import ID_PATTERN, Image, slugify
from .progress import Progress
from .records import (
    CatalogError,
    Record,
    Skip,
    build_image,
    feature_footprint,
    footprint_latitude,
    gsd_in_metres,
    optional_str,
    parse_datetime,
    positive_number,
)
from .render_hints import band_names, item_renders

#: Asset keys tried first, in order (API.md).
PREFERRED_ASSETS = ("visual", "image", "data")
#: Linked documents fetched at once while walking a catalog.
FETCH_CONCURRENCY = 8
#: The most linked documents read from one root, and the deepest child nesting.
MAX_DOCUMENTS = 200_000
MAX_DEPTH = 32

#: Item properties that become fields of :class:`Image` rather than properties.
_ITEM_FIELDS = frozenset(
    {
        "title",
        "gsd",
        "datetime",
        "start_datetime",
        "end_datetime",
        "providers",
        "license",
        "platform",
        "oam:producer_name",
        "oam:platform_type",
        "renders",  # read as the record's render hints (render_hints), shown with the server's URLs
    }
)


@dataclass(frozen=True)
class Inherited:
    """What a Collection tells its items when they do not say it themselves."""

    provider: str | None = None
    license: str | None = None
    #: The Collection's ``renders``, which its items name with ``render:`` properties.
    renders: Mapping[str, Any] | None = None
    #: Where an item outside its Collection's walk (an ItemCollection's, a STAC API page's) finds
    #: its Collection's renders: by the href of its ``collection`` link, read once per walk.
    collections: CollectionRenders | None = None


class CollectionRenders:
    """The ``renders`` of Collections linked from items, each Collection read once per walk (a
    STAC API page of items names its Collection on every item)."""

    def __init__(self) -> None:
        self._known: dict[str, Mapping[str, Any] | None] = {}

    def of(self, item: Mapping[str, Any], base: str) -> Mapping[str, Any] | None:
        """The renders of ``item``'s Collection (its ``rel="collection"`` link, resolved against
        ``base``), when the item names some with ``render:`` properties; ``None`` otherwise or
        when the Collection cannot be read (its renders are then not the item's)."""
        props = item.get("properties")
        if not isinstance(props, dict) or not any(str(k).startswith("render:") for k in props):
            return None
        links = [x for x in item.get("links") or [] if isinstance(x, dict) and x.get("rel") == "collection"]
        if not links:
            return None
        try:
            href = resolve_href(base, links[0].get("href"))
        except ValueError:
            return None
        if href not in self._known:
            doc = _fetch_json(href)
            renders = doc.get("renders") if isinstance(doc, dict) else None
            self._known[href] = renders if isinstance(renders, dict) else None
        return self._known[href]


def is_stac(doc: Any) -> bool:
    """A STAC Item, ItemCollection, Catalog or Collection (by ``type``, else by STAC fields)."""
    if not isinstance(doc, dict):
        return False
    kind = doc.get("type")
    if kind in ("Catalog", "Collection"):
        return True
    if kind == "Feature":
        return "stac_version" in doc or isinstance(doc.get("assets"), dict)
    if kind == "FeatureCollection" and isinstance(doc.get("features"), list):
        return any(
            isinstance(f, dict) and ("stac_version" in f or isinstance(f.get("assets"), dict))
            for f in doc["features"]
        )
    # STAC before 1.0 had no "type" on catalogs and collections.
    return "stac_version" in doc and isinstance(doc.get("links"), list) and "id" in doc


def load_stac(doc: dict[str, Any], base: str) -> Iterator[Record]:
    """Every item reachable from ``doc`` (read from ``base``), depth first, in link order."""
    walker = _Walker()
    walker.visited.add(base)
    try:
        yield from walker.walk(doc, base, Inherited(collections=CollectionRenders()), depth=0)
    finally:
        walker.progress.close()


class _Walker:
    """One walk of a STAC tree: which documents were read, and the progress line."""

    def __init__(self) -> None:
        self.visited: set[str] = set()
        self.progress = Progress("STAC items")

    def walk(self, doc: Any, base: str, inherited: Inherited, depth: int) -> Iterator[Record]:
        kind = doc.get("type") if isinstance(doc, dict) else None
        if kind == "Feature":
            yield item_record(doc, base, inherited)
            self.progress.update()
        elif kind == "FeatureCollection":
            yield from self._page_items(doc, base, inherited)
            if is_url(base):  # a STAC API's first page: the others follow its next links
                self.progress.update(0, stac_api.number_matched(doc))
                for page_url, page in stac_api.following_pages(doc, base):
                    yield from self._page_items(page, page_url, inherited)
        else:
            yield from self._walk_catalog(doc, base, _inherit(doc, inherited), depth)

    def _page_items(self, doc: dict[str, Any], base: str, inherited: Inherited) -> Iterator[Record]:
        for n, feature in enumerate(doc["features"]):
            if isinstance(feature, dict):
                yield item_record(feature, base, inherited)
            else:
                yield Skip(f"{base or 'item collection'} feature #{n}", "not a STAC Item")
            self.progress.update()

    def _walk_catalog(
        self, doc: dict[str, Any], base: str, inherited: Inherited, depth: int
    ) -> Iterator[Record]:
        links = [link for link in doc.get("links") or [] if isinstance(link, dict)]
        item_hrefs = self._new_hrefs(base, [x for x in links if x.get("rel") == "item"])
        child_hrefs = self._new_hrefs(base, [x for x in links if x.get("rel") == "child"])
        for target in item_hrefs:
            if isinstance(target, Skip):
                yield target
        wanted = [t for t in item_hrefs if isinstance(t, str)]
        if wanted:
            yield from self._linked_items(wanted, inherited)
        for target in child_hrefs:
            if isinstance(target, Skip):
                yield target
                continue
            if depth + 1 > MAX_DEPTH:
                yield Skip(target, f"catalog nested deeper than {MAX_DEPTH} levels")
                continue
            child = _fetch_json(target)
            if isinstance(child, Skip):
                yield child
            elif is_stac(child):
                yield from self.walk(child, target, inherited, depth + 1)
            else:
                yield Skip(target, "child link does not lead to a STAC document")

    def _linked_items(self, hrefs: list[str], inherited: Inherited) -> Iterator[Record]:
        """The items at ``hrefs``, in order; static catalogs keep one file per item, so
        they are fetched a few at a time."""
        with ThreadPoolExecutor(max_workers=FETCH_CONCURRENCY) as pool:
            for href, fetched in zip(hrefs, pool.map(_fetch_json, hrefs), strict=True):
                if isinstance(fetched, Skip):
                    yield fetched
                elif isinstance(fetched, dict) and fetched.get("type") == "Feature":
                    yield item_record(fetched, href, inherited)
                else:
                    yield Skip(href, "item link does not lead to a STAC Item")
                self.progress.update()

    def _new_hrefs(self, base: str, links: list[dict[str, Any]]) -> list[str | Skip]:
        """Resolved hrefs of ``links`` not read before (a catalog may link in a cycle)."""
        out: list[str | Skip] = []
        for link in links:
            try:
                href = resolve_href(base, link.get("href"))
            except ValueError as exc:
                out.append(Skip(f"link {link.get('href')!r} of {base or 'catalog'}", str(exc)))
                continue
            if href in self.visited:
                continue
            if len(self.visited) >= MAX_DOCUMENTS:
                raise CatalogError(f"STAC catalog {base} links more than {MAX_DOCUMENTS} documents")
            self.visited.add(href)
            out.append(href)
        return out


def _fetch_json(href: str) -> Any:
    """A linked document, or a :class:`Skip` naming it when it cannot be read."""
    try:
        return json.loads(fetch_text(href))
    except CatalogError as exc:
        return Skip(href, str(exc))
    except json.JSONDecodeError as exc:
        return Skip(href, f"not JSON: {exc}")


def _inherit(doc: dict[str, Any], inherited: Inherited) -> Inherited:
    """A Collection's provider, license and renders, for its items that give none."""
    provider, license_ = inherited.provider, inherited.license
    try:
        provider = _first_provider(doc.get("providers")) or provider
        license_ = optional_str(doc.get("license")) or license_
    except ValueError:
        pass  # a malformed collection-level field only loses the default
    renders = doc.get("renders") if isinstance(doc.get("renders"), dict) else inherited.renders
    return Inherited(provider, license_, renders, inherited.collections)


def _first_provider(providers: Any) -> str | None:
    if isinstance(providers, list) and providers and isinstance(providers[0], dict):
        return optional_str(providers[0].get("name"))
    return None


def item_record(item: dict[str, Any], base: str, inherited: Inherited = Inherited()) -> Record:
    """One STAC Item as an :class:`Image`, or a :class:`Skip` naming it and why."""
    raw_id = item.get("id")
    name = str(raw_id) if raw_id is not None else f"item in {base or 'catalog'}"
    try:
        return _item_image(item, base, inherited)
    except (ValueError, TypeError) as exc:
        return Skip(name, str(exc))


def _item_image(item: dict[str, Any], base: str, inherited: Inherited) -> Image:
    raw_id = item.get("id")
    if not isinstance(raw_id, str) or not raw_id:
        raise ValueError("no id")
    props = item.get("properties")
    if not isinstance(props, dict):
        raise TypeError("no properties")
    key, asset = choose_asset(item.get("assets"))
    footprint = feature_footprint(item)
    start = parse_datetime(props.get("start_datetime"))
    end = parse_datetime(props.get("end_datetime"))
    moment = parse_datetime(props.get("datetime"))
    start, end = start or moment, end or moment
    raw_gsd = props.get("gsd", asset.get("gsd"))
    gsd = gsd_in_metres(
        positive_number(raw_gsd, "gsd"),
        _projection(asset) or _projection(props),
        footprint_latitude(footprint),
        in_crs_units=False,
    )
    # Ids outside API.md's alphabet are made into one rather than losing the item.
    image_id = raw_id if ID_PATTERN.match(raw_id) else slugify(raw_id)
    extra = {k: v for k, v in props.items() if k not in _ITEM_FIELDS}
    extra["stac_asset"] = key
    nodata = asset_nodata(asset)
    if nodata is not None and "nodata" not in extra:
        extra["nodata"] = nodata
    if image_id != raw_id:
        extra["stac_id"] = raw_id
    if isinstance(item.get("collection"), str):
        extra["collection"] = item["collection"]
    thumbnail = _thumbnail_href(item.get("assets"), base)
    if thumbnail is not None:
        extra["source_thumbnail"] = thumbnail
    platform = props.get("oam:platform_type") or props.get("platform")
    collection_renders = inherited.renders
    if collection_renders is None and inherited.collections is not None:
        collection_renders = inherited.collections.of(item, base)
    return build_image(
        image_id=image_id,
        source_url=resolve_href(base, asset.get("href")),
        title=optional_str(props.get("title")),
        footprint=footprint,
        gsd=gsd,
        start=start,
        end=end,
        provider=optional_str(props.get("oam:producer_name"))
        or _first_provider(props.get("providers"))
        or inherited.provider,
        license=optional_str(props.get("license")) or inherited.license,
        platform=platform if isinstance(platform, str) else None,
        properties=extra,
        renders=item_renders(props, key, asset, collection_renders),
        band_names=band_names(asset),
    )


def asset_nodata(asset: dict[str, Any]) -> float | str | None:
    """The nodata value an asset declares: its own ``nodata`` (STAC 1.1), else the one its bands
    share in ``raster:bands`` or ``bands`` (raster extension); ``None`` when absent or unequal."""
    if asset.get("nodata") is not None:
        return asset["nodata"]
    for field in ("raster:bands", "bands"):
        bands = asset.get(field)
        if isinstance(bands, list) and bands and all(isinstance(b, dict) for b in bands):
            values = {str(b.get("nodata")) for b in bands}
            if len(values) == 1 and bands[0].get("nodata") is not None:
                return bands[0]["nodata"]
    return None


def choose_asset(assets: Any) -> tuple[str, dict[str, Any]]:
    """The asset to preview: ``visual``, ``image``, ``data``, else the first GeoTIFF.

    Among the other assets a cloud-optimized GeoTIFF beats a plain one. An
    asset without a media type counts as a GeoTIFF when its href ends in
    ``.tif``/``.tiff`` (real STAC API answers often omit the type).
    """
    if not isinstance(assets, dict) or not assets:
        raise ValueError("no assets")
    for key in PREFERRED_ASSETS:
        if isinstance(assets.get(key), dict) and assets[key].get("href"):
            return key, assets[key]
    geotiffs = [
        (key, asset)
        for key, asset in assets.items()
        if isinstance(asset, dict) and asset.get("href") and _is_geotiff(asset)
    ]
    if not geotiffs:
        raise ValueError(f"no visual, image, data or GeoTIFF asset among {sorted(assets)}")
    optimized = [(k, a) for k, a in geotiffs if "cloud-optimized" in str(a.get("type", ""))]
    return (optimized or geotiffs)[0]


def _thumbnail_href(assets: Any, base: str) -> str | None:
    """The href of the ``thumbnail`` asset (for reference), ``None`` when absent or unusable."""
    asset = assets.get("thumbnail") if isinstance(assets, dict) else None
    if not isinstance(asset, dict):
        return None
    try:
        return resolve_href(base, asset.get("href"))
    except ValueError:
        return None


def _is_geotiff(asset: dict[str, Any]) -> bool:
    media_type = str(asset.get("type") or "").lower()
    if media_type:
        return media_type.startswith("image/tiff") or "geotiff" in media_type
    path = str(asset["href"]).split("?", 1)[0].lower()
    return path.endswith((".tif", ".tiff"))


def _projection(fields: dict[str, Any]) -> str | None:
    """The CRS a STAC object gives: ``proj:code``, ``proj:epsg`` (STAC < 1.1) or ``proj:wkt2``."""
    code = fields.get("proj:code")
    if isinstance(code, str) and code:
        return code
    epsg = fields.get("proj:epsg")
    if isinstance(epsg, int) and not isinstance(epsg, bool):
        return f"EPSG:{epsg}"
    wkt = fields.get("proj:wkt2")
    return wkt if isinstance(wkt, str) and wkt else None
