"""The upstream network policy: catalog records cannot make the server reach private networks."""

from __future__ import annotations

import contextlib
import http.server
import ipaddress
import logging
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from oam_preview.config import Allowance, Settings
from oam_preview.errors import UpstreamError, UpstreamForbidden
from oam_preview.remote import egress
from oam_preview.remote.policy import UpstreamPolicy, is_public

from .support.apps import app_over
from .support.catalog_documents import records_doc
from .support.fileserver import FileServer
from .support.loopback import LoopbackServer

REFUSED_ADDRESSES = [
    "127.0.0.1",  # loopback
    "10.1.2.3",  # RFC 1918
    "172.16.0.9",
    "192.168.1.1",
    "169.254.169.254",  # link-local: cloud metadata
    "100.64.0.1",  # CGNAT
    "224.0.0.251",  # multicast
    "240.0.0.1",  # reserved
    "0.0.0.0",
    "::1",
    "fc00::1",  # ULA
    "fe80::1",  # link-local
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "ff02::1",  # multicast
]


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
def test_non_public_addresses_are_refused(address):
    assert not is_public(ipaddress.ip_address(address))
    url = f"http://[{address}]/a.tif" if ":" in address else f"http://{address}/a.tif"
    with pytest.raises(UpstreamForbidden):
        UpstreamPolicy.from_setting("").check(url)


@pytest.mark.parametrize("address", ["8.8.8.8", "151.101.1.1", "2a04:4e42::1"])
def test_public_addresses_pass(address):
    assert is_public(ipaddress.ip_address(address))


def resolver(table: dict[str, list[str]]):
    """A stand-in for DNS: ``check`` never connects, it only asks what a name resolves to."""

    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("no such name")
        return table[host]

    return resolve


def test_a_name_is_judged_by_every_address_it_resolves_to():
    policy = UpstreamPolicy(
        Allowance.parse(""),
        resolve=resolver(
            {
                "public.example": ["93.184.216.34"],
                "inside.example": ["10.0.0.5"],
                "both.example": ["93.184.216.34", "127.0.0.1"],
            }
        ),
    )
    policy.check("https://public.example/a.tif")
    for url in ("http://inside.example/a.tif", "http://both.example/a.tif"):
        with pytest.raises(UpstreamForbidden) as caught:
            policy.check(url)
        # A name's addresses are the server's network's business: not which kind they are.
        assert "a host name resolving to an address that is not public" in caught.value.message
    with pytest.raises(UpstreamError, match="'unknown.example' of the image's URL does not resolve"):
        policy.check("http://unknown.example/a.tif")  # not refused: missing, and read no more
    assert policy.refused() == {"inside.example": 1, "both.example": 1, "unknown.example": 1}


def test_a_refusal_names_what_the_url_wrote_and_the_entry_allowing_it_never_what_listens():
    said = {}
    for url in (
        "http://127.0.0.1:6379/",
        "http://10.0.0.1/a.tif",
        "http://[::1]:8080/a.tif",
        "http://169.254.169.254/latest",
        "ftp://example.org/a.tif",
        "/vsicurl/http://x/a.tif",
    ):
        with pytest.raises(UpstreamForbidden) as caught:
            UpstreamPolicy.from_setting("").check(url)
        assert caught.value.status == 403 and caught.value.code == "upstream_forbidden"
        said[url] = caught.value.message
    assert "a loopback address (127.0.0.1)" in said["http://127.0.0.1:6379/"]
    assert "OAM_PREVIEW_UPSTREAM_ALLOW=127.0.0.1:6379 when" in said["http://127.0.0.1:6379/"]
    assert "a private network address (10.0.0.1)" in said["http://10.0.0.1/a.tif"]
    assert "add [::1]:8080 to that setting" in said["http://[::1]:8080/a.tif"]
    assert "a link-local address" in said["http://169.254.169.254/latest"]
    # What is no http(s) URL at all: one message, the same for each.
    assert said["ftp://example.org/a.tif"] == said["/vsicurl/http://x/a.tif"]
    assert policy_entry_allows("[::1]:8080", "http://[::1]:8080/a.tif")
    assert policy_entry_allows("127.0.0.1:6379", "http://127.0.0.1:6379/")


def policy_entry_allows(entry: str, url: str) -> bool:
    """Whether the entry a refusal names does allow its URL."""
    UpstreamPolicy.from_setting(entry).check(url)
    return True


def test_allow_entries_let_named_hosts_and_networks_through():
    policy = UpstreamPolicy(
        Allowance.parse("tiles.internal, 127.0.0.1:8080 10.20.0.0/16 [::1]:9000"),
        resolve=resolver({"tiles.internal": ["10.9.9.9"], "nas.internal": ["10.20.3.4"]}),
    )
    for url in (
        "http://tiles.internal/a.tif",
        "http://tiles.internal:81/a.tif",
        "http://127.0.0.1:8080/a.tif",
        "http://10.20.1.1/a.tif",
        "http://nas.internal/a.tif",
        "http://[::1]:9000/a.tif",
    ):
        policy.check(url)
    for url in ("http://127.0.0.1:8081/a.tif", "http://10.21.0.1/a.tif", "http://[::1]:9001/a.tif"):
        with pytest.raises(UpstreamForbidden):
            policy.check(url)
    UpstreamPolicy.from_setting("any").check("http://127.0.0.1:6379/")
    UpstreamPolicy.from_setting("").check("/srv/imagery/local.tif")  # the operator's own directory catalog


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "host:99999", "host:x"])
def test_a_malformed_allow_entry_is_a_configuration_error(bad):
    with pytest.raises(ValueError, match="OAM_PREVIEW_UPSTREAM_ALLOW"):
        Settings.from_mapping({"OAM_PREVIEW_UPSTREAM_ALLOW": bad})


# --- Through the app: records pointing at the tests' own loopback canary. ---------------------------------


@pytest.fixture()
def canary(tiff_dir: Path):
    """A GeoTIFF server that counts every request it gets: it must get none."""
    with FileServer(tiff_dir) as server:
        server.traffic.reset()
        yield server


class Redirector(http.server.BaseHTTPRequestHandler):
    """Answers every request with a redirect to ``target`` (set on the class)."""

    target = ""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD


ROUTES = ("/thumbnail.png", "/tiles/18/224757/101422.png", "/tilejson.json", "/WMTSCapabilities.xml")


def test_records_pointing_at_loopback_are_refused_and_nothing_reaches_them(canary):
    port = canary.url.rsplit(":", 1)[1]
    records = {
        "loopback": f"{canary.url}/cogeo.tif",
        "by_name": f"http://localhost:{port}/cogeo.tif",
        "mapped": f"http://[::ffff:127.0.0.1]:{port}/cogeo.tif",
    }
    client = app_over(records_doc(records), OAM_PREVIEW_UPSTREAM_ALLOW="").test_client()
    entries = {
        "loopback": f"127.0.0.1:{port}",
        "by_name": f"localhost:{port}",
        "mapped": f"[::ffff:127.0.0.1]:{port}",
    }
    for image_id in records:
        answers = set()
        for route in ROUTES:
            r = client.get(f"/api/images/{image_id}{route}")
            assert r.status_code == 403, (image_id, route, r.data)
            answers.add((r.get_json()["error"]["code"], r.get_json()["error"]["message"]))
        # One answer for every route, naming the entry that would allow the record's host.
        ((code, message),) = answers
        assert code == "upstream_forbidden" and f"add {entries[image_id]} to that setting" in message
    assert canary.traffic.requests == 0
    forbidden = client.get("/healthz").get_json()["upstream"]["forbidden"]
    assert forbidden["127.0.0.1"] >= 4 and forbidden["localhost"] >= 4


def test_a_redirect_into_a_refused_network_is_refused(canary):
    Redirector.target = f"{canary.url}/cogeo.tif"
    with LoopbackServer(Redirector) as redirector:
        netloc = redirector.url.split("//", 1)[1]
        client = app_over(
            records_doc({"hop": f"{redirector.url}/cogeo.tif"}), OAM_PREVIEW_UPSTREAM_ALLOW=netloc
        ).test_client()  # the redirector only
        for route in ROUTES:
            r = client.get(f"/api/images/hop{route}")
            assert r.status_code == 403 and r.get_json()["error"]["code"] == "upstream_forbidden", r.data
    assert canary.traffic.requests == 0


def test_the_allow_list_lets_a_named_host_through(canary):
    netloc = canary.url.split("//", 1)[1]
    client = app_over(
        records_doc({"cogeo": f"{canary.url}/cogeo.tif"}), OAM_PREVIEW_UPSTREAM_ALLOW=netloc
    ).test_client()
    r = client.get("/api/images/cogeo/tiles/18/224757/101422.png")
    assert r.status_code == 200 and r.mimetype == "image/png"
    assert canary.traffic.requests > 0


class GdalOnlyRedirector(http.server.BaseHTTPRequestHandler):
    """A server that tells GDAL (curl sends ``Accept: */*``) one thing and oam-preview's own
    requests (urllib sends no ``Accept``) another: those get a plausible TIFF, GDAL a redirect
    to ``target``. No check of our own requests can see this redirect."""

    target = ""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        if "Accept" in self.headers:
            self.send_response(302)
            self.send_header("Location", self.target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206 if self.command == "GET" else 200)
        self.send_header("Content-Length", "8")
        self.send_header("ETag", '"decoy"')
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(b"II*\x00\x08\x00\x00\x00")

    do_GET = do_HEAD


def test_a_redirect_only_gdal_is_sent_is_refused_by_the_egress_relay(canary):
    """GDAL's own connections pass the policy (oam_preview.remote.egress), redirect hops included."""
    GdalOnlyRedirector.target = f"{canary.url}/cogeo.tif"
    with LoopbackServer(GdalOnlyRedirector) as sneaky:
        netloc = sneaky.url.split("//", 1)[1]
        client = app_over(
            records_doc({"hop": f"{sneaky.url}/cogeo.tif"}), OAM_PREVIEW_UPSTREAM_ALLOW=netloc
        ).test_client()
        for route in ROUTES:
            r = client.get(f"/api/images/hop{route}")
            assert r.status_code == 403 and r.get_json()["error"]["code"] == "upstream_forbidden", r.data
        assert client.get("/healthz").get_json()["upstream"]["forbidden"]["127.0.0.1"] >= 1
    assert canary.traffic.requests == 0


def test_the_egress_relay_connects_to_the_address_it_checked(canary):
    """A name that resolves to a public address for the URL check and a private one a moment
    later (DNS rebinding) reaches nothing: the relay resolves once and connects to what it checked."""
    answers = iter([["93.184.216.34"]] + [["127.0.0.1"]] * 50)
    port = canary.url.rsplit(":", 1)[1]
    app = app_over(
        records_doc({"rebound": f"http://rebind.example:{port}/cogeo.tif"}), OAM_PREVIEW_UPSTREAM_ALLOW=""
    )
    opener = app.extensions["oam_preview"]["oam_preview"].opener
    opener.policy.resolve = lambda host, p: next(answers)
    r = app.test_client().get("/api/images/rebound/tiles/18/224757/101422.png")
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "upstream_forbidden", r.data
    assert canary.traffic.requests == 0


def socks_greeting(port: int, greeting: bytes) -> tuple[socket.socket, bytes]:
    """A SOCKS5 client on ``port`` that sent ``greeting``: the socket and the relay's 2-byte answer."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(greeting)
    return sock, sock.recv(2)


def hung_up(sock: socket.socket) -> bool:
    """Whether the relay closed ``sock`` (a reset too: it may come after our unread bytes)."""
    try:
        return sock.recv(16) == b""
    except ConnectionResetError:
        return True


def connect_request(netloc: str) -> bytes:
    host, port = netloc.rsplit(":", 1)
    return b"\x05\x01\x00\x03" + bytes([len(host)]) + host.encode() + struct.pack("!H", int(port))


def test_a_relay_serves_only_its_worker(canary):
    """Any local user could connect to an open SOCKS5 relay on loopback and reach what the worker's
    policy allows (issue 30): only a client with the relay's secret gets to ask for a host."""
    netloc = canary.url.split("//", 1)[1]
    app = app_over(records_doc({"cogeo": f"{canary.url}/cogeo.tif"}), OAM_PREVIEW_UPSTREAM_ALLOW=netloc)
    assert app.test_client().get("/api/images/cogeo/tiles/18/224757/101422.png").status_code == 200  # GDAL's
    access = app.extensions["oam_preview"]["oam_preview"].opener._relay()
    port = int(access.url.rsplit(":", 1)[1])
    canary.traffic.reset()

    # A plain client (no authentication): no acceptable method, and the relay hangs up.
    sock, answer = socks_greeting(port, b"\x05\x01\x00")
    with sock:
        assert answer == b"\x05\xff"
        with contextlib.suppress(OSError):
            sock.sendall(connect_request(netloc))
        assert hung_up(sock)
    # A client with a user name and the wrong password: refused (RFC 1929 status 1), hung up on.
    for user, password in ((b"oam-preview", b"guess"), (b"oam-preview", access.secret[:-1].encode())):
        sock, answer = socks_greeting(port, b"\x05\x02\x00\x02")
        with sock:
            assert answer == b"\x05\x02"
            sock.sendall(b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password)
            assert sock.recv(2) == b"\x01\x01"
            with contextlib.suppress(OSError):
                sock.sendall(connect_request(netloc))
            assert hung_up(sock)
    assert canary.traffic.requests == 0
    # The worker's own credentials: the relay connects (the canary is allowed here).
    sock, answer = socks_greeting(port, b"\x05\x01\x02")
    with sock:
        secret = access.secret.encode()
        sock.sendall(b"\x01\x0boam-preview" + bytes([len(secret)]) + secret)
        assert answer == b"\x05\x02" and sock.recv(2) == b"\x01\x00"
        sock.sendall(connect_request(netloc))
        assert sock.recv(10)[:2] == b"\x05\x00"


def test_the_relay_secret_is_in_no_log_page_or_message(canary, caplog):
    caplog.set_level(logging.DEBUG)
    netloc = canary.url.split("//", 1)[1]
    GdalOnlyRedirector.target = f"http://localhost:{netloc.rsplit(':', 1)[1]}/cogeo.tif"
    with LoopbackServer(GdalOnlyRedirector) as sneaky:
        records = {"cogeo": f"{canary.url}/cogeo.tif", "hop": f"{sneaky.url}/cogeo.tif"}
        allow = f"{netloc} {sneaky.url.split('//', 1)[1]}"
        app = app_over(records_doc(records), OAM_PREVIEW_UPSTREAM_ALLOW=allow)
        client = app.test_client()
        pages = [client.get(f"/api/images/{image_id}{route}") for image_id in records for route in ROUTES]
        assert {r.status_code for r in pages} == {200, 403}  # read through the relay, and refused by it
        pages += [client.get("/healthz"), client.get("/metrics"), client.get("/api/images/hop/info")]
    access = app.extensions["oam_preview"]["oam_preview"].opener._relay()
    assert len(access.secret) >= 32 and access.secret not in repr(access)
    relay_pid = next(relay.pid for relay, known in egress._relays.values() if known == access)
    seen = [r.get_data().decode(errors="replace") for r in pages] + [caplog.text]
    seen.append(Path(f"/proc/{relay_pid}/cmdline").read_bytes().decode(errors="replace"))
    assert not [text for text in seen if access.secret in text]


def test_the_relay_process_ends_with_the_process_that_started_it():
    code = (
        "from oam_preview.remote import egress; egress.relay_access('127.0.0.0/8', 6.0);"
        "print(next(iter(egress._relays.values()))[0].pid, flush=True)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    pid = int(out.stdout.split()[-1])
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]:
            return
        time.sleep(0.05)
    raise AssertionError(f"relay {pid} outlived its parent")


def test_the_relay_process_imports_only_what_it_relays_with():
    """A relay runs beside every worker: the module it runs loads no HTTP client, numpy or
    rasterio, nor OpenSSL (a relay was ~22 MB resident with ``urllib.request``, ``http.client`` and
    ``hmac``'s libcrypto; ~15 without)."""
    access = egress.relay_access("127.0.0.0/8", 6.0)
    relay_pid = next(relay.pid for relay, known in egress._relays.values() if known == access)
    command = Path(f"/proc/{relay_pid}/cmdline").read_bytes().split(b"\0")
    module = command[command.index(b"-m") + 1].decode()
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert module in loaded
    heavy = {"urllib.request", "http.client", "ssl", "_hashlib", "subprocess", "numpy", "rasterio", "flask"}
    assert heavy & loaded == set()


@pytest.mark.parametrize(
    "spelling",
    ["http:{host}/cogeo.tif", "http:/{host}/cogeo.tif", "HTTP:{host}/cogeo.tif", "http:///{host}/cogeo.tif"],
)
def test_a_url_without_slashes_is_refused_by_the_policy_not_read_as_a_local_path(canary, spelling):
    """GDAL reads ``http:127.0.0.1:P/x`` over HTTP (rasterio adds the ``//``): it is a URL for the
    policy too, one without ``//host``, refused at once and counted, never a local path."""
    url = spelling.format(host=canary.url.split("//", 1)[1])
    client = app_over(records_doc({"noslash": url}), OAM_PREVIEW_UPSTREAM_ALLOW="").test_client()
    for route in ROUTES:
        r = client.get(f"/api/images/noslash{route}")
        assert r.status_code == 403 and r.get_json()["error"]["code"] == "upstream_forbidden", (route, r.data)
    assert canary.traffic.requests == 0
    assert client.get("/healthz").get_json()["upstream"]["forbidden"] == {"http:": len(ROUTES)}


@pytest.mark.parametrize(
    "url",
    ["gs:bucket/cogeo.tif", "s3:bucket/cogeo.tif", "zip+http:h/a.zip", "/vsicurl/x", "http://[::1/a.tif"],
)
def test_a_path_gdal_would_read_from_elsewhere_is_refused(url):
    with pytest.raises(UpstreamForbidden):
        UpstreamPolicy.from_setting("").check(url)


@pytest.mark.parametrize("url", ["/data/cogeo.tif", "data/http:x.tif", "file:/data/cogeo.tif"])
def test_a_local_path_passes_and_is_read_as_one(url):
    from oam_preview.remote.gdal_settings import vsi_path

    UpstreamPolicy.from_setting("").check(url)
    assert vsi_path(url) == url


def test_an_http_url_is_read_through_vsicurl_as_given():
    from oam_preview.remote.gdal_settings import vsi_path

    for url in ("http://h.example/a.tif", "HTTPS://h.example/a.tif?x=1"):
        assert vsi_path(url) == "/vsicurl/" + url
