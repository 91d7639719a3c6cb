"""``oam-preview serve`` as a user starts it: the demo's own catalog per server, and the checks
made before any worker starts (the catalog, the port), each failure one line and exit status 1."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from oam_preview.demo import images as demo

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


# -- checked before any worker starts ---------------------------------------------------------


def run_serve(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv, env=env or dict(os.environ), cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The one line a failed start prints, asserted: exit status 1, no traceback, no banner."""
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "oam-preview on http" not in result.stderr, result.stderr
    assert "Booting worker" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_a_missing_catalog_is_one_line(tmp_path):
    line = one_error_line(run_serve(serve_command(str(tmp_path / "nowhere.json"), free_port())))
    assert "nowhere.json" in line and "No such file" in line


def test_a_broken_catalog_is_one_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{broken")
    line = one_error_line(run_serve(serve_command(str(path), free_port())))
    assert "broken.json" in line and "JSON" in line


def test_a_taken_port_is_one_line(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    with socket.socket() as other:  # another server on the port
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        line = one_error_line(run_serve(serve_command(str(path), port)))
    assert f"127.0.0.1:{port}" in line and "in use" in line


def test_a_catalog_with_no_usable_record_is_a_warning_saying_why(tmp_path):
    path = tmp_path / "catalog.json"
    features = [
        {"type": "Feature", "geometry": None, "properties": {"source_url": "http://a.example/one.tif"}},
        {"type": "Feature", "id": "bad id!", "geometry": None, "properties": {"source_url": "http://a.example/2.tif"}},
    ]  # fmt: skip
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    port = free_port()
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            serve_command(str(path), port), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr
        )
        try:
            wait_for_healthz(f"http://127.0.0.1:{port}", process, timeout=90)
        finally:
            stop_process(process)
    text = log.read_text()
    warning = [line for line in text.splitlines() if line.startswith("Warning: ")]
    assert warning and "no usable image" in warning[0] and "2 records skipped" in warning[0], text
    assert (
        "feature #0: id None is not an id" in text
        and "feature #1 (bad id!): id 'bad id!' is not an id" in text
    ), text
    assert text.index("Warning: ") < text.index("oam-preview on http"), text
