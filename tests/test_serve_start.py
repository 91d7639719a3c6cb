"""``oam-preview serve`` as a user starts it: the demo's own catalog per server, and the checks
made before any worker starts (the catalog, the port), each failure one line and exit status 1."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from oam_preview import demo

from .support.processes import free_port, serve_command, stop_process, wait_for_healthz

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "geotiff"


@pytest.fixture()
def small_demo(tmp_path) -> Path:
    """A demo directory whose images are small test GeoTIFFs under the demo's file names: the
    demo's catalog and file server as `serve` runs them, without a minute of image building."""
    directory = tmp_path / "demo"
    directory.mkdir()
    for spec in demo.DEMO_IMAGES:
        shutil.copy(DATA / "cogeo.tif", directory / spec.filename)
    return directory


def demo_env(directory: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAM_PREVIEW_")}
    return {**env, "OAM_PREVIEW_DEMO_DIR": str(directory), "HOME": str(home), "XDG_CACHE_HOME": str(home)}


def start(argv: list[str], env: dict[str, str], port: int) -> subprocess.Popen:
    process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_healthz(f"http://127.0.0.1:{port}", process, timeout=90)
    except RuntimeError:
        process.kill()
        raise
    return process


def worker_pid(base: str) -> int:
    with urllib.request.urlopen(base + "/healthz", timeout=10) as response:
        return int(json.loads(response.read())["worker"]["pid"])


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.fixture()
def two_demo_servers(small_demo, tmp_path) -> Iterator[tuple[str, str]]:
    env = demo_env(small_demo, tmp_path)
    ports = free_port(), free_port()
    first = start(serve_command("demo", ports[0], workers=1, threads=2), env, ports[0])
    try:
        second = start(serve_command("demo", ports[1], workers=1, threads=2), env, ports[1])
        try:
            yield f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}"
        finally:
            stop_process(second)
    finally:
        stop_process(first)


def test_two_demo_servers_each_keep_their_own_catalog(two_demo_servers):
    """Each demo `serve` rewrote one shared catalog.json with its own file server's port: a worker
    of the first server that restarted read the second's port and answered 403 (issue 33)."""
    first, second = two_demo_servers
    old = worker_pid(first)
    os.kill(old, signal.SIGKILL)  # gunicorn's master starts another, which loads the catalog anew
    for _ in range(600):  # bounded: until the new worker answers
        try:
            if worker_pid(first) != old:
                break
        except OSError:
            pass
        time.sleep(0.1)
    assert worker_pid(first) != old, "the worker was not restarted"
    for base in (first, second):
        statuses = [status_of(f"{base}/api/images/{spec.id}/thumbnail.png") for spec in demo.DEMO_IMAGES[:4]]
        assert statuses == [200] * 4, (base, statuses)
