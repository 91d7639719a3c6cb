"""What GDAL may open, and what it must forget: drivers, sidecars and cached failures, process-wide.

**Forgetting failures.** GDAL's ``/vsicurl/`` remembers, per process, that a
URL failed (HTTP 5xx, refused, timed out) and answers later opens of it from
that memory, without asking the server again: an upstream that was down for
a minute would stay "down" for this worker until it restarts. :func:`forget`
clears GDAL's cache for one URL after each failure.

**Sidecars.** ``rasterio.open(url, driver="GTiff")`` restricts the file
oam-preview opens, but not the files GDAL opens *for* it when it may list the
remote "directory" (thumbnails of files without internal overviews use a
``.ovr`` sidecar): ``.ovr`` overviews and ``.msk`` masks are opened with *any*
registered driver. A malicious catalog entry can serve ``image.tif.ovr`` as a
VRT whose source is ``/etc/passwd`` or a local GeoTIFF, and the thumbnail
shows the server's local data (``tests/test_security.py``). So sidecars are
only looked for once :func:`sidecars_are_geotiffs` has opened each of them
with the GeoTIFF driver alone, through GDAL's ``/vsicurl/`` cache (GDAL's own
open right after reads the same, checked, bytes), and with PAM off (an
``.aux.xml`` may name an ``OVERVIEW_FILE`` anywhere). A sidecar that is not a
GeoTIFF means no sidecars.

**Drivers**, as defence in depth: ``oam-preview serve`` owns its worker
processes and deregisters every GDAL driver outside :data:`SERVER_DRIVERS`
(``OAM_PREVIEW_GDAL_DRIVERS``): GTI, WMS, WMTS, MRF, STAC, HFA, PDS and the
other drivers that follow paths or URLs written inside a file are gone. VRT
has to stay: rasterio's warp helpers (``calculate_default_transform``) open
in-memory VRTs. A blueprint mounted in a host app leaves the host's drivers
alone unless the setting is given. GDAL's driver manager is process-wide and
``GDAL_SKIP`` only applies to the first registration (which may already have
happened), so drivers are deregistered through GDAL's C API, from the very
library rasterio loaded (found in ``/proc/self/maps``).
"""

from __future__ import annotations

import ctypes
import logging
import threading
from pathlib import Path
from typing import Any

import rasterio
from rasterio._err import CPLE_BaseError
from rasterio.errors import RasterioError

from ..config import SERVER_DRIVERS  # noqa: F401 (its docstring names it here; kept in config)
from .diagnosis import NOT_GEOTIFF

log = logging.getLogger(__name__)

#: Drivers (besides VRT, handled by :func:`sidecars_are_geotiffs`) that read other files or
#: URLs named inside a file's content, or sidecars of their own.
UNSAFE_DRIVERS = frozenset(
    {
        "GTI",
        "WMS",
        "WMTS",
        "MRF",
        "STACIT",
        "STACTA",
        "DERIVED",
        "HFA",
        "PDS",
        "PDS4",
        "ISIS3",
        "ENVI",
        "EHdr",
    }
)
#: The sidecar files GDAL opens with any driver once it may list a remote "directory".
SIDECAR_SUFFIXES = (".ovr", ".msk")

_lock = threading.Lock()


def registered_drivers() -> set[str]:
    """Short names of the GDAL drivers registered in this process."""
    with rasterio.Env() as env:
        return set(env.drivers())


def _loaded_gdal() -> ctypes.CDLL | None:
    """The libgdal rasterio uses (the same mapping, so the same driver manager and caches), or ``None``."""
    if not _gdal:
        _gdal.append(_find_loaded_gdal())
    return _gdal[0]


_gdal: list[ctypes.CDLL | None] = []


def _find_loaded_gdal() -> ctypes.CDLL | None:
    registered_drivers()  # rasterio loads and initialises GDAL
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for line in maps.splitlines():
        path = line.split(maxsplit=5)[-1] if len(line.split()) >= 6 else ""
        if "libgdal" in Path(path).name and ".so" in path:
            try:
                return ctypes.CDLL(path)
            except OSError:
                return None
    return None


def _deregister(lib: ctypes.CDLL, names: set[str]) -> None:
    lib.GDALGetDriverByName.restype = ctypes.c_void_p
    lib.GDALGetDriverByName.argtypes = [ctypes.c_char_p]
    lib.GDALDeregisterDriver.argtypes = [ctypes.c_void_p]
    for name in sorted(names):
        handle = lib.GDALGetDriverByName(name.encode())
        if handle:
            # Deregistered, not destroyed: a dataset of a host app may still use the driver object.
            lib.GDALDeregisterDriver(handle)


def restrict_drivers(allowed: str) -> bool:
    """Deregister every GDAL driver whose name is not in ``allowed`` (space separated; ``""`` or
    ``*`` keeps all). Returns whether the process is now free of :data:`UNSAFE_DRIVERS`."""
    keep = set(allowed.split())
    if not keep:
        return False
    with _lock:
        present = registered_drivers()
        if "*" not in keep:
            extra = present - keep
            if extra:
                lib = _loaded_gdal()
                if lib is None:
                    log.warning("cannot deregister GDAL drivers: libgdal not found in this process")
                else:
                    _deregister(lib, extra)
                    present = registered_drivers()
        return not (present & UNSAFE_DRIVERS)


def sidecars_are_geotiffs(path: str) -> bool:
    """Whether GDAL path ``path`` has sidecars worth letting GDAL look for: at least one of
    :data:`SIDECAR_SUFFIXES` exists, and each that exists opens as a GeoTIFF.

    Opened through the GDAL path itself (``/vsicurl/...``), so its header lands
    in GDAL's cache for the open that follows. A sidecar that is there but is
    not a GeoTIFF is ``False``: no sidecars. A failure that answers nothing (a
    timeout, an HTTP 5xx) raises GDAL's error: the question stays open. No sidecar at all is ``False``
    too: GDAL would otherwise probe a dozen names (``.aux``, ``.OVR``, ``.MSK``
    ...) from ``dataset.overviews()``, which rasterio runs holding the GIL, so
    a slow upstream would stall every thread of the worker meanwhile.
    """
    found = False
    for suffix in SIDECAR_SUFFIXES:
        try:
            with (
                rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR", GDAL_PAM_ENABLED="NO"),
                rasterio.open(path + suffix, driver="GTiff"),
            ):
                found = True
        except (RasterioError, OSError, CPLE_BaseError) as exc:
            text = str(exc).lower()
            if "response code: 404" in text or "does not exist" in text or "no such file" in text:
                continue
            if not any(answer in text for answer in NOT_GEOTIFF):
                raise  # no answer (a timeout, a 5xx): the caller maps it, and nothing is concluded
            log.warning("not using the sidecars of %s: %s is not a GeoTIFF (%s)", path, suffix, exc)
            return False
    return found


def forget(path: str) -> None:
    """Drop what GDAL's network cache knows of ``path`` (a ``/vsicurl/``, ``/vsis3/``, ``/vsigs/``
    or ``/vsiaz/`` path), failures included."""
    if not path.startswith(NETWORK_PATHS):
        return
    lib = _loaded_gdal()
    if lib is None:
        return
    _forget_prefix(lib, path)


def forget_process_credentials() -> None:
    """Drop the credentials GDAL keeps for the whole process: the session credentials of a
    web-identity role (STS ``AssumeRoleWithWebIdentity``), an assumed role or the machine's own
    (instance metadata), which GDAL 3.10 reuses until their ``Expiration`` is a minute away, however
    often the store refuses them. ``VSICurlClearCache`` is GDAL's only call that drops them, and it
    drops the whole network cache with them (bytes, headers, listings of every path): GDAL then
    asks for fresh credentials before its next request, open handles included."""
    _call_void("VSICurlClearCache")


def silence_gdal_debug() -> bool:
    """Turn GDAL's debug messages (``CPL_DEBUG``) off, process-wide; whether they were on. GDAL
    prints some of them to stderr past every handler of ours: among them the URL of a web identity's
    STS request (``HTTP: Fetch(…&WebIdentityToken=…)``), the token in it."""
    lib = _loaded_gdal()
    if lib is None:
        return False
    lib.CPLGetConfigOption.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.CPLGetConfigOption.restype = ctypes.c_char_p
    lib.CPLSetConfigOption.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.CPLSetConfigOption.restype = None
    value = lib.CPLGetConfigOption(b"CPL_DEBUG", None)
    if value is None or value.decode().upper() in ("OFF", "NO", "FALSE", "0"):
        return False  # unset: off ("" is on: every category)
    lib.CPLSetConfigOption(b"CPL_DEBUG", b"OFF")
    return True


#: GDAL's network file systems whose cache :func:`forget` drops.
NETWORK_PATHS = ("/vsicurl/", "/vsis3/", "/vsigs/", "/vsiaz/")


def reset_gdal_errors() -> None:
    """Clear GDAL's last error of the calling thread (``CPLErrorReset``), as before a new call."""
    _call_void("CPLErrorReset")


def _call_void(name: str) -> None:
    """GDAL's ``void name(void)`` called, when GDAL is loaded."""
    lib = _loaded_gdal()
    if lib is None:
        return
    function = getattr(lib, name)
    function.argtypes, function.restype = [], None
    function()


def set_path_options(options: list[tuple[str, dict[str, str]]]) -> bool:
    """Replace GDAL's path-specific options (``VSISetPathSpecificOption``) by ``options``:
    ``(path prefix, {option: value})`` pairs, process-wide (every thread's reads of a path
    under a prefix see them before any thread-local or global option). The same options again
    change nothing: clearing them would leave a concurrent read without its credentials.
    Whether they changed (the caller then drops what GDAL cached under the old ones)."""
    lib = _loaded_gdal()
    if lib is None or _applied == [options]:
        return False
    _applied[:] = [options]
    lib.VSIClearPathSpecificOptions.argtypes = [ctypes.c_char_p]
    lib.VSIClearPathSpecificOptions.restype = None
    lib.VSISetPathSpecificOption.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p]
    lib.VSISetPathSpecificOption.restype = None
    lib.VSIClearPathSpecificOptions(None)
    for prefix, values in options:
        for key, value in values.items():
            lib.VSISetPathSpecificOption(prefix.encode(), key.encode(), value.encode())
    return True


_applied: list[list[tuple[str, dict[str, str]]]] = []


def file_headers(path: str) -> tuple[dict[str, str] | None, str]:
    """The HTTP headers GDAL got for the network ``path`` (``/vsis3/…``), asked anew (its cached
    facts of ``path`` dropped first), lower-cased names; ``(None, GDAL's error)`` on a failure."""
    lib = _loaded_gdal()
    if lib is None:
        return None, "GDAL is not loaded"
    _forget_prefix(lib, path)
    reset_gdal_errors()
    lib.VSIGetFileMetadata.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p]
    lib.VSIGetFileMetadata.restype = ctypes.POINTER(ctypes.c_char_p)
    lib.CPLGetLastErrorMsg.argtypes = []
    lib.CPLGetLastErrorMsg.restype = ctypes.c_char_p
    lib.CSLDestroy.argtypes = [ctypes.c_void_p]
    found = lib.VSIGetFileMetadata(path.encode(), b"HEADERS", None)
    if not found:
        return None, (lib.CPLGetLastErrorMsg() or b"").decode(errors="replace")
    headers: dict[str, str] = {}
    index = 0
    while found[index]:
        name, _, value = found[index].decode(errors="replace").partition("=")
        headers[name.strip().lower()] = value.strip()
        index += 1
    lib.CSLDestroy(ctypes.cast(found, ctypes.c_void_p))
    return headers, ""


def _forget_prefix(lib: ctypes.CDLL, path: str) -> None:
    lib.VSICurlPartialClearCache.argtypes = [ctypes.c_char_p]
    lib.VSICurlPartialClearCache.restype = None
    lib.VSICurlPartialClearCache(path.encode())


def open_geotiff(path: str, sidecars: bool = False) -> Any:
    """A dataset of ``path`` (a GDAL path: ``/vsicurl/…``, ``/vsis3/…``, a file), opened by the
    GeoTIFF driver alone: a crafted "GeoTIFF" that is really a VRT must not make the server
    read local files. ``sidecars``: its ``.ovr``/``.msk`` are used once checked to be GeoTIFFs,
    and PAM is off (an ``.aux.xml`` may point ``OVERVIEW_FILE`` anywhere)."""
    options: dict[str, str] = {}
    if sidecars and sidecars_are_geotiffs(path):
        options = {"GDAL_DISABLE_READDIR_ON_OPEN": "TRUE", "GDAL_PAM_ENABLED": "NO"}
    with rasterio.Env(**options):
        return rasterio.open(path, driver="GTiff")
