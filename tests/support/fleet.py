"""The parts of a fleet on loopback: nginx (origin of COGs, and the front), redis, instances.

Used by the fleet tests and ``benchmarks/fleet.py``. The front nginx runs the
config rendered from ``deploy/nginx/oam-preview.conf.template``, so that
template is what gets tested. nginx is started with its own prefix, config,
pid and logs in a temporary directory, never as the system service.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog_documents import catalog_doc
from .geotiffs import GEOTIFFS, write_cog
from .load_harness import Server, children
from .processes import free_port, stop_process
from .redis_server import RedisServer

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "deploy" / "nginx" / "oam-preview.conf.template"
_PLACEHOLDER = re.compile(r"\$\{(OAM_PREVIEW_[A-Z_]+)\}")


def nginx_binary() -> str | None:
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)


def render_template(text: str, values: dict[str, str], backends: list[str]) -> str:
    """``envsubst`` of the ``${OAM_PREVIEW_*}`` placeholders only, the ``OAM_PREVIEW_BACKEND``
    line once per backend (``host:port``); a placeholder without a value is an error."""
    lines = []
    for line in text.splitlines():
        if "${OAM_PREVIEW_BACKEND}" in line and not line.lstrip().startswith("#"):
            lines += [line.replace("${OAM_PREVIEW_BACKEND}", b) for b in backends]
        else:
            lines.append(line)

    def value(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise KeyError(f"the template needs {m.group(1)}")
        return values[m.group(1)]

    rendered = []
    for line in lines:
        rendered.append(line if line.lstrip().startswith("#") else _PLACEHOLDER.sub(value, line))
    return "\n".join(rendered) + "\n"


def main_config(directory: Path, http: str) -> str:
    """A whole nginx.conf around an http-context ``http`` snippet, every path inside ``directory``."""
    # As root, nginx's workers would run as `nobody` and not read pytest's 0700 temp dirs.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temps = "\n".join(
        f"    {name}_temp_path {directory / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}worker_processes 1;
error_log {directory / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    default_type application/octet-stream;
    access_log off;
{temps}
{http}
}}
"""


class Nginx:
    """nginx with the config ``http`` (http-context) in ``directory``, listening on ``port``."""

    def __init__(self, directory: Path, http: str, port: int) -> None:
        self.directory = directory
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        directory.mkdir(parents=True, exist_ok=True)
        self.conf = directory / "nginx.conf"
        self.conf.write_text(main_config(directory, http))
        self.process: subprocess.Popen[bytes] | None = None
        self.tls_port: int | None = None
        self.cert: Path | None = None

    def command(self, *extra: str) -> list[str]:
        binary = nginx_binary()
        assert binary is not None
        pid = self.directory / "nginx.pid"
        return [binary, "-p", str(self.directory), "-c", str(self.conf), "-e", str(self.directory / "error.log"),
                "-g", f"daemon off; pid {pid};", *extra]  # fmt: skip

    def check(self) -> None:
        """``nginx -t``: raises with nginx's message when the config is wrong."""
        result = subprocess.run(self.command("-t"), capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{result.stderr}")

    def start(self, timeout: float = 15.0) -> Nginx:
        self.check()
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return self
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    "nginx did not start: " + (self.directory / "error.log").read_text()[-2000:]
                )
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, sig=signal.SIGQUIT)  # graceful: lets it remove its pid file
            self.process = None


def origin(directory: Path, root: Path, port: int) -> Nginx:
    """nginx serving the files of ``root`` with Range, each request logged to ``access.log``."""
    log = directory / "access.log"
    http = f"""    log_format origin '$request_method $uri $status $body_bytes_sent "$http_range"';
    server {{
        listen 127.0.0.1:{port};
        root {root};
        access_log {log} origin;
        location / {{ }}
    }}"""
    return Nginx(directory, http, port)


#: The template's documented per-client limits; the fleet's load tests raise them (one client).
CLIENT_LIMITS = {"OAM_PREVIEW_CLIENT_RATE": "50r/s", "OAM_PREVIEW_CLIENT_BURST": "400",
                 "OAM_PREVIEW_CLIENT_CONNECTIONS": "32"}  # fmt: skip
UNLIMITED = {"OAM_PREVIEW_CLIENT_RATE": "100000r/s", "OAM_PREVIEW_CLIENT_BURST": "100000",
             "OAM_PREVIEW_CLIENT_CONNECTIONS": "10000"}  # fmt: skip


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1 made by ``openssl`` (the front's TLS in tests)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def front(directory: Path, port: int, backends: list[str], limits: dict[str, str] | None = None) -> Nginx:
    """nginx with the config rendered from deploy/'s template, in front of ``backends``; its TLS
    port is ``nginx.tls_port`` (a self-signed certificate)."""
    cert, key = self_signed(directory / "tls")
    tls_port = free_port()
    http = render_template(
        TEMPLATE.read_text(),
        {
            "OAM_PREVIEW_LISTEN": f"127.0.0.1:{port}",
            "OAM_PREVIEW_LISTEN_TLS": f"127.0.0.1:{tls_port}",
            "OAM_PREVIEW_TLS_CERT": str(cert),
            "OAM_PREVIEW_TLS_KEY": str(key),
            "OAM_PREVIEW_CACHE_DIR": str(directory / "cache"),
            "OAM_PREVIEW_CACHE_SIZE": "200m",
            **(UNLIMITED if limits is None else limits),
        },
        backends,
    )
    nginx = Nginx(directory, http, port)
    nginx.tls_port = tls_port
    nginx.cert = cert
    return nginx


@dataclass(frozen=True)
class OriginRequest:
    method: str
    path: str
    status: int
    nbytes: int
    range: str


def origin_requests(log: Path, start: int = 0) -> list[OriginRequest]:
    """The requests in the origin's access log from byte offset ``start`` on."""
    found = []
    with log.open("rb") as f:
        f.seek(start)
        for line in f.read().decode().splitlines():
            method, path, status, nbytes, rng = line.split(" ", 4)
            found.append(OriginRequest(method, path, int(status), int(nbytes), rng.strip('"')))
    return found


def log_size(log: Path) -> int:
    return log.stat().st_size if log.exists() else 0


def metric_sum(url: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` (whose labels include ``labels``) in the Prometheus text at ``url``."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback)
        text = response.read().decode()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and labels.items() <= s.labels.items()
    )


def kill_instance(server: Server) -> None:
    """``kill -9`` an instance: its gunicorn master and every worker at once, as a crash would."""
    assert server.process is not None
    pids = [server.process.pid, *children(server.process.pid)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    server.process.wait(timeout=10)
    server.process = None


@dataclass
class Fleet:
    """Origin nginx, redis-server, ``instances`` ``oam-preview serve`` and the front nginx."""

    directory: Path
    instances: int = 2
    workers: int = 2
    threads: int = 4
    #: Synthetic 4096² COGs written for the fleet (ids = these names), each its own pixels.
    cogs: tuple[str, ...] = ("synthetic_cog",)
    #: More ``OAM_PREVIEW_*`` environment of the instances (e.g. a short upstream recheck).
    settings: dict[str, str] = field(default_factory=dict)
    origin: Nginx = field(init=False)
    redis: RedisServer = field(init=False)
    servers: list[Server] = field(init=False, default_factory=list)
    front: Nginx = field(init=False)

    def start(self) -> Fleet:
        tiffs = self.directory / "tiffs"
        tiffs.mkdir(parents=True, exist_ok=True)
        for src in sorted(GEOTIFFS.glob("*.tif")):
            shutil.copy(src, tiffs / src.name)
        for seed, name in enumerate(self.cogs):
            write_cog(tiffs / f"{name}.tif", 4096, 4096, seed=seed)
        self.origin = origin(self.directory / "origin", tiffs, free_port()).start()
        self.origin_log = self.directory / "origin" / "access.log"
        self.tiffs = tiffs
        redis_dir = self.directory / "redis"
        redis_dir.mkdir(exist_ok=True)
        self.redis = RedisServer(free_port(), redis_dir).start()
        names = sorted(p.name for p in tiffs.glob("*.tif"))
        catalog = self.directory / "catalog.json"
        catalog.write_text(json.dumps(catalog_doc(self.origin.url, names)))
        env = {"OAM_PREVIEW_CACHE_URL": self.redis.url, "OAM_PREVIEW_TRUSTED_PROXIES": "1", **self.settings}
        self.servers = [
            # Each its own metrics directory, inside ours: a killed instance leaves nothing in /tmp.
            Server(catalog, free_port(), self.workers, self.threads,
                   env={**env, "PROMETHEUS_MULTIPROC_DIR": str(self.directory / f"metrics-{n}")})
            for n in range(self.instances)
        ]  # fmt: skip
        starting = [threading.Thread(target=s.start) for s in self.servers]
        for t in starting:
            t.start()
        for t in starting:
            t.join(90)
        for s in self.servers:
            if s.process is None:
                raise RuntimeError("an oam-preview instance did not start")
        backends = [s.url.removeprefix("http://") for s in self.servers]
        self.front = front(self.directory / "front", free_port(), backends).start()
        return self

    def stop(self) -> None:
        for part in (getattr(self, "front", None), *self.servers, getattr(self, "redis", None),
                     getattr(self, "origin", None)):  # fmt: skip
            if part is not None:
                with contextlib.suppress(Exception):
                    part.stop()

    def renders(self) -> float:
        """Renders so far, summed over every live instance's workers."""
        return sum(metric_sum(s.url + "/metrics", "oam_preview_renders_total") for s in self.live())

    def live(self) -> list[Server]:
        return [s for s in self.servers if s.process is not None]


@contextlib.contextmanager
def fleet(directory: Path, **kw: Any) -> Iterator[Fleet]:
    f = Fleet(directory, **kw)
    try:
        yield f.start()
    finally:
        f.stop()
