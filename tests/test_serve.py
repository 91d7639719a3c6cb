"""The deploy files run what ``oam-preview serve`` runs: one source of the gunicorn settings."""

from __future__ import annotations

import concurrent.futures
import json
import os
import platform
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from oam_preview.offline import lifeline
from oam_preview.serve import config_from_environment, gunicorn_settings

from .support.catalog_documents import catalog_doc
from .support.fileserver import FileServer
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
    monkeypatch.setenv("OAM_PREVIEW_MACHINE_CACHE_DIR", str(tmp_path / "c"))
    for set_by_the_master in ("OAM_PREVIEW_GDAL_DRIVERS", lifeline.ENV):
        monkeypatch.setenv(set_by_the_master, "")  # so that the undo removes what the call sets
        monkeypatch.delenv(set_by_the_master)
    monkeypatch.setenv("OAM_PREVIEW_BIND", "127.0.0.1:9999")
    monkeypatch.setenv("OAM_PREVIEW_WORKERS", "3")
    monkeypatch.setenv("OAM_PREVIEW_THREADS", "5")
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
                and worker["gdal_cache_mb"] == 64  # half of the machine's 256 MB, between 2
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
        assert worker["gdal_cache_mb"] == 128  # the one worker told it has the machine's caches alone
        # rio-tiler's xarray reader (and pandas behind it) is never imported by a worker.
        assert worker["unused_imports_skipped"] == ["xarray", "rioxarray"]
        if GLIBC:  # the worker gives its free heap pages back, again and again
            deadline = time.monotonic() + 60
            while worker.get("malloc_trims", 0) < 2 and time.monotonic() < deadline:
                time.sleep(0.5)
                (worker,) = worker_of(f"http://127.0.0.1:{port}", 1)
            assert worker["malloc_trims"] >= 2
    finally:
        stop_process(process)


def test_the_master_imports_neither_gdal_nor_the_app(tmp_path):
    # Every module the master imports is RSS counted once more than the workers: it forks them
    # and never renders, so it keeps to gunicorn, click and the settings.
    code = (
        "import sys, oam_preview.cli, oam_preview.serve as s; s.prepare_process(); "
        "print(sorted(m for m in ('numpy', 'rasterio', 'rio_tiler', 'PIL', 'flask_cors', 'pyproj') "
        "if m in sys.modules))"
    )
    env = {**os.environ, "OAM_PREVIEW_MACHINE_CACHE_DIR": "", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# -- one response cache per machine -----------------------------------------------------------


def healthz_of_each(base_url: str, want: int) -> dict[int, dict]:
    """``/healthz`` of ``want`` distinct workers by pid, asked now (bounded tries)."""
    seen: dict[int, dict] = {}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for _ in range(50):
            for doc in pool.map(get_json, [base_url + "/healthz"] * 8):
                seen[doc["worker"]["pid"]] = doc
            if len(seen) >= want:
                break
    return seen


def fetch(url: str, etag: str | None = None) -> tuple[int, str]:
    """``(status, ETag)`` of a GET, ``If-None-Match: etag`` when given."""
    request = urllib.request.Request(url, headers={"If-None-Match": f'"{etag}"'} if etag else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            return response.status, response.headers["ETag"]
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["ETag"]


def test_a_burst_of_one_cold_tile_across_two_workers_renders_it_once(catalog_file, tiff_server, tmp_path):
    """Both workers get requests of each cold tile; the machine's workers render each once
    and answer the rest from the file (same ETag, 304 for it)."""
    port = free_port()
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("OAM_PREVIEW_MACHINE_CACHE_DIR", None)  # serve makes its own
    process = start(serve_command(str(catalog_file), port, workers=2, threads=4), env, port)
    base = f"http://127.0.0.1:{port}"
    try:
        assert len(healthz_of_each(base, 2)) == 2
        rendered: list[str] = []
        for name in ("101422.png", "101422.webp", "101422.jpg", "101422@2x.png", "101422@2x.webp"):
            url = f"{base}/api/images/cogeo/tiles/18/224757/{name}"
            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                answers = list(pool.map(fetch, [url] * 16))
            assert {status for status, _ in answers} == {200}
            (etag,) = {etag for _, etag in answers}
            assert {fetch(url, etag.strip('"'))[0] for _ in range(6)} == {304}
            rendered.append(url)
            docs = healthz_of_each(base, 2)
            if all(doc["cache"]["misses"] for doc in docs.values()):
                break  # both workers have had requests of a cold tile
        assert all(doc["cache"]["misses"] for doc in docs.values())
        caches = [doc["cache"] for doc in docs.values()]
        assert sum(cache["renders"] for cache in caches) == len(rendered)  # once each, on the machine
        assert sum(cache["machine"]["hits"] + cache["machine"]["lock_result"] for cache in caches) >= 1
        with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
            assert f"oam_preview_renders_total {float(len(rendered))}" in r.read().decode()
        directory = Path(caches[0]["machine"]["directory"])
        assert directory.is_dir() and directory.name.startswith("oam-preview-cache-")
    finally:
        stop_process(process)
    assert not directory.exists()  # the server's own, removed with it


# -- export jobs end with the server ----------------------------------------------------------


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not: its parent, the worker, is gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def descendants(pid: int) -> set[int]:
    """``pid`` and every process below it, by a scan of /proc (its relay, a spawned pool)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, todo = {pid}, [pid]
    while todo:
        parent = todo.pop()
        children = {child for child, p in parents.items() if p == parent} - found
        found |= children
        todo.extend(children)
    return found


def post_json(url: str, doc: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(doc).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def get_status(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture()
def slowish_catalog(tiff_dir, tmp_path) -> Iterator[Path]:
    """A catalog whose files answer each request after 1 s: an export of a few hundred tiles
    takes many seconds, so it still runs when the test stops the server."""
    with FileServer(tiff_dir, delay=1.0) as server:
        path = tmp_path / "catalog.json"
        path.write_text(json.dumps(catalog_doc(server.url, ["synthetic_cog.tif"])))
        yield path


def running_job(base: str, exports: Path, body: dict) -> tuple[str, int]:
    """Submit ``body``; the job's id and its process once it runs (bounded wait)."""
    status, doc = post_json(f"{base}/api/exports", body)
    assert status == 202, doc
    state_file = exports / doc["id"] / "state.json"
    for _ in range(600):
        state = json.loads(state_file.read_text()) if state_file.exists() else {}
        if state.get("pid") and state["state"] == "running":
            return doc["id"], int(state["pid"])
        time.sleep(0.05)
    raise AssertionError(f"the job did not start: {state}")


@pytest.mark.parametrize(
    ("sig", "metrics"),
    [(signal.SIGTERM, "given"), (signal.SIGINT, "the server's own")],
    ids=["SIGTERM-metrics-dir-given", "SIGINT-own-metrics-dir"],
)
def test_stopping_serve_stops_its_export_jobs(slowish_catalog, tmp_path, sig, metrics):
    """A local export job used to outlive `oam-preview serve` (issue 30), or fail on the metrics
    directory the server removes as it stops: it ends with the server, is then reported failed
    (stopped with the server) by the next one, and resumes when asked again."""
    exports = tmp_path / "exports"
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env["OAM_PREVIEW_EXPORT_DIR"] = str(exports)
    if metrics == "given":  # as the systemd unit gives it: the server does not remove it
        env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")
    body = {"ids": ["synthetic_cog"], "format": "mbtiles", "minzoom": 14, "maxzoom": 19}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start(serve_command(str(slowish_catalog), port, workers=2, threads=2), env, port)
    try:
        job_id, job_pid = running_job(base, exports, body)
        job_processes = descendants(job_pid)
    finally:
        stop_process(process, sig=sig, timeout=40)
    for _ in range(400):  # bounded: the job learns at once, its relay when the job is gone
        if not any(alive(pid) for pid in job_processes):
            break
        time.sleep(0.05)
    assert not [pid for pid in job_processes if alive(pid)], "a job process outlived the server"
    state = json.loads((exports / job_id / "state.json").read_text())
    assert state["state"] == "failed" and "server stopped" in state["error"], state

    process = start(serve_command(str(slowish_catalog), port, workers=1, threads=2), env, port)
    try:
        status, doc = get_status(f"{base}/api/exports/{job_id}")
        assert status == 502 and doc["error"]["code"] == "export_failed", doc
        assert "server stopped" in doc["error"]["message"] and "resume" in doc["error"]["message"]
        again, _ = running_job(base, exports, body)  # asked again: run again, resuming
        assert again == job_id
    finally:
        stop_process(process, sig=sig, timeout=40)
