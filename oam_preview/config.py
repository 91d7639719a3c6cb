"""The ``OAM_PREVIEW_*`` settings: names, defaults and parsing, in one place.

A :class:`Settings` is built from a Flask config (or any mapping, such as
``os.environ``); unset keys take the defaults of API.md.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The catalog that names the embedded demo (see :mod:`oam_preview.demo.switch`).
DEMO_CATALOG = "demo"
DEFAULT_BASEMAP_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
DEFAULT_BASEMAP_ATTRIBUTION = "© OpenStreetMap contributors"


#: The GDAL drivers ``oam-preview serve`` keeps (oam_preview.remote.gdal_safety): GeoTIFF, COG
#: (writing), MEM and VRT (rasterio internals). Here, where the server's master reads it without
#: importing GDAL.
SERVER_DRIVERS = "GTiff COG MEM VRT"


@dataclass(frozen=True)
class Settings:
    """Every setting of oam-preview, typed. Field ``x`` is config key ``OAM_PREVIEW_X``."""

    catalog: str = DEMO_CATALOG
    prefix: str = ""
    upstream_timeout: float = 10.0  # seconds
    # Where image URLs may point beyond public addresses: host, host:port, CIDR; "any": anywhere.
    upstream_allow: str = ""
    upstream_recheck: float = 300.0  # seconds between checks that a remote file is unchanged; 0: never
    max_read_mb: float = 256.0  # megabytes of upstream data per request
    trusted_proxies: int = 0
    basemap_url: str = DEFAULT_BASEMAP_URL
    basemap_attribution: str = DEFAULT_BASEMAP_ATTRIBUTION
    catalog_ttl: float = 600.0  # seconds
    catalog_max_records: int = 100_000  # images kept of one catalog load; more are left out, with a warning
    # The worker's own response cache, megabytes: only the hot set, since the machine cache below
    # keeps the rest once for all the workers (each worker's megabytes here are a copy).
    cache_max_mb: float = 16.0
    # The response cache shared by the workers of one machine: a directory ("": none; `oam-preview
    # serve` and deploy/gunicorn.conf.py make a temporary one per server when unset) and the
    # megabytes of rendered bodies kept in it (0: none).
    machine_cache_dir: str = ""
    machine_cache_mb: float = 256.0
    # GDAL's caches for all the workers of one machine, megabytes: decoded blocks and downloaded
    # ranges, half each, split between `workers` processes (each holds its share, at least
    # 16 + 16 MB). `oam-preview serve` and deploy/gunicorn.conf.py set `workers` for their workers;
    # a host app running the blueprint in its own processes sets it to their number.
    gdal_cache_mb: float = 256.0
    workers: int = 2
    cache_url: str = ""  # redis://host:port/db of a cache shared by workers and machines; "": none
    cache_ttl: float = 86400.0  # seconds a response stays in the shared cache
    cache_control: str = "public, max-age=3600"  # images, TileJSON, WMTS (unversioned or an old `v`)
    cache_stale_while_revalidate: int = 60  # seconds added as `stale-while-revalidate`; 0: omitted
    cache_stale_if_error: int = 86400  # seconds added as `stale-if-error`; 0: omitted
    cache_control_outside: str = "public, max-age=300"  # 404 outside_bounds / zoom_out_of_range
    dataset_pool_size: int = 64  # open datasets kept per worker process
    upstream_host_reads: int = 4  # reads of one upstream host in flight at once, per worker process
    upstream_image_reads: int = 3  # reads of one GeoTIFF in flight at once, per worker process
    upstream_queue_timeout: float = 3.0  # seconds a read waits for a free slot before a 504
    breaker_failures: int = 5  # consecutive host failures that open its circuit breaker
    breaker_cooldown: float = 3.0  # seconds an open breaker answers at once between probes
    mosaic_max_images: int = 8  # most images read for one mosaic tile
    mosaic_min_pixels: int = 16  # images smaller than this (pixels across) are coverage marks
    # Tile packages of POST /api/exports: where their files are kept (""; the system's temporary
    # directory), the RQ queue that runs them (redis://…; "": a local process per job), limits.
    export_dir: str = ""
    export_queue: str = ""
    # seconds a submission keeps trying an unreachable export queue (a Redis restart, a failover)
    # before its 502; at most the time the request has left, less a second
    export_queue_wait: float = 6.0
    export_ttl: float = 86400.0  # seconds a finished export's file is kept
    export_max_tiles: int = 50_000  # tiles of one export
    export_max_jobs: int = 4  # exports queued or running at once, in all
    export_max_client_jobs: int = 1  # exports queued or running at once, per client address
    export_max_disk_mb: float = 2048.0  # megabytes of every export's files together
    # The imagery index (/api/imagery/…) and the feeds: image ids the operator marks as the best
    # imagery of their area (ELI's `best`, JOSM's `eli-best`), space or comma separated; the
    # privacy policy of this server that editors link to ("": none given).
    index_best: str = ""
    privacy_policy_url: str = ""
    # Where the feeds' "added" times are kept (a small file per catalog source; "": the user's
    # cache directory, $XDG_CACHE_HOME/oam-preview). With a Redis cache_url, they are kept there.
    state_dir: str = ""
    # The operator's alignment offsets: a JSON file {image id: {"dx": m east, "dy": m north}},
    # read again when it changes ("": none; records may still carry `alignment_offset`).
    offsets: str = ""
    # The operator's credential profiles for s3://, gs:// and az:// hrefs: a TOML file mapping
    # buckets or prefixes to identities ("": none; unprofiled s3/gs objects are read from their
    # public URLs). Read at start, and again when a store refuses a profile's credentials.
    sources: str = ""
    # Who may see private and embargoed images: a TOML file of API tokens (their SHA-256, scoped
    # to images or groups) and the key of signed tile URLs ("": private images are nobody's).
    access: str = ""
    # Where the page's "Open in JOSM" sends JOSM's remote control commands (JOSM's own default).
    josm_remote_control: str = "http://127.0.0.1:8111"
    # GDAL drivers kept in the process, space separated; "" leaves them alone (a host app's
    # process is its own), `oam-preview serve` keeps only oam_preview.remote.gdal_safety.SERVER_DRIVERS.
    gdal_drivers: str = ""

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> Settings:
        """Read ``OAM_PREVIEW_*`` keys from ``mapping``; raise ``ValueError`` on a bad value."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            key = "OAM_PREVIEW_" + f.name.upper()
            if key not in mapping or mapping[key] is None:
                continue
            raw = mapping[key]
            default = f.default
            try:
                if isinstance(default, int):
                    values[f.name] = int(raw)
                elif isinstance(default, float):
                    values[f.name] = float(raw)
                else:
                    values[f.name] = str(raw)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{key}={raw!r}: {exc}") from None
        settings = cls(**values)
        settings.validate()
        return settings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        return cls.from_mapping(os.environ if environ is None else environ)

    def validate(self) -> None:
        if self.upstream_timeout <= 0:
            raise ValueError("OAM_PREVIEW_UPSTREAM_TIMEOUT must be > 0")
        if self.max_read_mb <= 0:
            raise ValueError("OAM_PREVIEW_MAX_READ_MB must be > 0")
        if self.catalog_max_records < 1:
            raise ValueError("OAM_PREVIEW_CATALOG_MAX_RECORDS must be >= 1")
        if self.trusted_proxies < 0:
            raise ValueError("OAM_PREVIEW_TRUSTED_PROXIES must be >= 0")
        for name in (
            "upstream_host_reads",
            "upstream_image_reads",
            "breaker_failures",
            "mosaic_max_images",
            "export_max_tiles",
            "export_max_jobs",
            "export_max_client_jobs",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"OAM_PREVIEW_{name.upper()} must be >= 1")
        if self.cache_stale_while_revalidate < 0 or self.cache_stale_if_error < 0:
            raise ValueError(
                "OAM_PREVIEW_CACHE_STALE_WHILE_REVALIDATE and OAM_PREVIEW_CACHE_STALE_IF_ERROR must be >= 0"
            )
        if self.export_queue_wait < 0:
            raise ValueError("OAM_PREVIEW_EXPORT_QUEUE_WAIT must be >= 0")
        if self.upstream_queue_timeout < 0 or self.breaker_cooldown < 0:
            raise ValueError(
                "OAM_PREVIEW_UPSTREAM_QUEUE_TIMEOUT and OAM_PREVIEW_BREAKER_COOLDOWN must be >= 0"
            )
        if self.workers < 1:
            raise ValueError("OAM_PREVIEW_WORKERS must be >= 1")
        if self.gdal_cache_mb <= 0:
            raise ValueError("OAM_PREVIEW_GDAL_CACHE_MB must be > 0")
        if self.cache_max_mb < 0 or self.machine_cache_mb < 0:
            raise ValueError("OAM_PREVIEW_CACHE_MAX_MB and OAM_PREVIEW_MACHINE_CACHE_MB must be >= 0")
        if self.export_ttl <= 0 or self.export_max_disk_mb <= 0:
            raise ValueError("OAM_PREVIEW_EXPORT_TTL and OAM_PREVIEW_EXPORT_MAX_DISK_MB must be > 0")
        Allowance.parse(self.upstream_allow)  # raises ValueError naming a bad entry
        if self.prefix and (not self.prefix.startswith("/") or self.prefix.endswith("/")):
            raise ValueError("OAM_PREVIEW_PREFIX must start with '/' and not end with it")

    def best_ids(self) -> frozenset[str]:
        """The ids of ``OAM_PREVIEW_INDEX_BEST``."""
        return frozenset(self.index_best.replace(",", " ").split())

    def as_config(self) -> dict[str, Any]:
        """The settings as Flask config keys."""
        return {"OAM_PREVIEW_" + f.name.upper(): getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Allowance:
    """The parsed ``OAM_PREVIEW_UPSTREAM_ALLOW``: names (with or without a port) and networks."""

    anything: bool = False
    hosts: frozenset[str] = frozenset()  # lower-case names or addresses, any port
    host_ports: frozenset[tuple[str, int]] = frozenset()
    networks: tuple[IPNetwork, ...] = ()
    #: The setting as given, for a refusal to say the whole value that would allow one more host.
    text: str = field(default="", compare=False)

    @classmethod
    def parse(cls, text: str) -> Allowance:
        """Parse the setting; raise ``ValueError`` naming a malformed entry."""
        hosts: set[str] = set()
        host_ports: set[tuple[str, int]] = set()
        networks: list[IPNetwork] = []
        for entry in text.replace(",", " ").split():
            if entry.lower() == "any":
                return cls(anything=True, text=text)
            if "/" in entry:
                try:
                    networks.append(ipaddress.ip_network(entry, strict=False))
                except ValueError:
                    raise ValueError(f"OAM_PREVIEW_UPSTREAM_ALLOW: {entry!r} is not a CIDR block") from None
                continue
            host, port = _split_host_port(entry)
            if port is None:
                hosts.add(host)
            else:
                host_ports.add((host, port))
        return cls(False, frozenset(hosts), frozenset(host_ports), tuple(networks), text.strip())

    def with_entry(self, entry: str) -> str:
        """The setting's whole value with ``entry`` added (an entry's own form: ``host:port``)."""
        return f"{self.text} {entry}".strip()

    def names(self, host: str, port: int) -> bool:
        """Whether the entries name ``host`` (and ``port``) themselves."""
        return host in self.hosts or (host, port) in self.host_ports

    def covers(self, address: IPAddress) -> bool:
        """Whether a CIDR entry holds ``address`` (or an address entry is it)."""
        return str(address) in self.hosts or any(address in net for net in self.networks)


def _split_host_port(entry: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` -> (lower-case host, port or None)."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif entry.count(":") == 1:
        host, port = entry.split(":")
    else:  # a name, an IPv4 address or a bare IPv6 address
        host, port = entry, None
    if port is None:
        return host.lower(), None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"OAM_PREVIEW_UPSTREAM_ALLOW: {entry!r} has no valid port")
    return host.lower(), int(port)


def read_settings_file(setting: str, file: str) -> dict[str, Any]:
    """The TOML document of the operator's file ``file`` named by the setting ``setting`` (e.g.
    ``OAM_PREVIEW_SOURCES``); ``ValueError`` naming the setting, the file and what is wrong."""
    try:
        with open(file, "rb") as stream:
            return tomllib.load(stream)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{setting} {file}: {exc}") from None
