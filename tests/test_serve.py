"""The deploy files run what ``oam-preview serve`` runs: one source of the gunicorn settings."""

from __future__ import annotations

import concurrent.futures
import json
import os
import platform
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from oam_preview.serve import config_from_environment, gunicorn_settings

from .conftest import catalog_doc
from .support.processes import free_port, serve_command, stop_process, wait_for_healthz

ROOT = Path(__file__).resolve().parents[1]
GLIBC = platform.libc_ver()[0] == "glibc"


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def worker_of(base_url: str, want: int) -> list[dict]:
    """The ``worker`` section of ``/healthz`` from ``want`` distinct workers (bounded tries)."""
    seen: dict[int, dict] = {}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:  # concurrent, so every worker gets some
        for _ in range(50):
            for doc in pool.map(get_json, [base_url + "/healthz"] * 8):
                seen[doc["worker"]["pid"]] = doc["worker"]
            if len(seen) >= want:
                break
            time.sleep(0.1)  # a worker may still be booting
    return list(seen.values())


def test_serve_and_the_config_file_share_every_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "m"))
    monkeypatch.setenv("OAM_PREVIEW_BIND", "127.0.0.1:9999")
    monkeypatch.setenv("OAM_PREVIEW_WORKERS", "3")
    monkeypatch.setenv("OAM_PREVIEW_THREADS", "5")
    # config_from_environment sets the server's GDAL drivers in the environment (it runs in the
    # master before its workers): in this process, undone after the test, or later tests'
    # apps would be restricted to the server's drivers.
    monkeypatch.setenv("OAM_PREVIEW_GDAL_DRIVERS", "")
    monkeypatch.delenv("OAM_PREVIEW_GDAL_DRIVERS")
    from_file = config_from_environment()
    from_serve = gunicorn_settings("127.0.0.1:9999", 3, 5)
    assert from_file.keys() == from_serve.keys()
    for key in from_file:
        if key != "on_exit":  # a closure over its own directory
            assert from_file[key] == from_serve[key], key
    assert (
        from_file["post_fork"].__name__ == "post_fork"
        and from_file["worker_class"] == "oam_preview.serve.JsonErrorThreadWorker"
    )


def start(argv: list[str], env: dict[str, str], port: int) -> subprocess.Popen:
    process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_healthz(f"http://127.0.0.1:{port}", process, timeout=60)
    except RuntimeError:
        process.kill()
        raise
    return process


@pytest.fixture()
def catalog_file(tiff_server, tmp_path) -> Path:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog_doc(tiff_server.url, ["cogeo.tif"])))
    return path


def test_gunicorn_as_the_systemd_unit_runs_it(catalog_file, tmp_path):
    """``gunicorn -c deploy/gunicorn.conf.py`` with the unit's environment: the hooks ran in every worker."""
    port = free_port()
    env = {
        **os.environ,
        "OAM_PREVIEW_BIND": f"127.0.0.1:{port}",
        "OAM_PREVIEW_WORKERS": "2",
        "OAM_PREVIEW_THREADS": "3",
        "OAM_PREVIEW_TRUSTED_PROXIES": "1",
        "OAM_PREVIEW_CATALOG": str(catalog_file),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "HOME": str(tmp_path),
    }
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    process = start([gunicorn, "-c", str(ROOT / "deploy" / "gunicorn.conf.py")], env, port)
    try:
        workers = worker_of(f"http://127.0.0.1:{port}", 2)
        assert len(workers) == 2
        for worker in workers:
            assert (
                worker["threads"] == 3
                and worker["worker_class"] == "oam_preview.serve.JsonErrorThreadWorker"
                and worker["timeout"] == 60
            )
            assert worker["malloc_tuned"] is GLIBC
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/images/cogeo/thumbnail.png", timeout=20
        ) as r:
            assert r.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            assert b"oam_preview_worker_threads 6.0" in r.read()  # both workers, summed
    finally:
        stop_process(process)


def test_oam_preview_serve_runs_the_same_hooks(catalog_file):
    port = free_port()
    process = start(serve_command(str(catalog_file), port, workers=1, threads=2), dict(os.environ), port)
    try:
        (worker,) = worker_of(f"http://127.0.0.1:{port}", 1)
        assert worker["threads"] == 2 and worker["worker_class"] == "oam_preview.serve.JsonErrorThreadWorker"
        assert worker["malloc_tuned"] is GLIBC
    finally:
        stop_process(process)
