"""``GET /metrics``: Prometheus text, per process in a host app, summed over gunicorn's workers."""

from __future__ import annotations

import json
import shutil
import threading
import urllib.request
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from oam_preview import create_app

from .support.catalog_documents import catalog_doc
from .support.load_harness import Server
from .support.processes import free_port

TILE_RULE = "/api/images/<image_id>/tiles/<z>/<x>/<name>"


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """``{(sample name, labels): value}`` of a Prometheus text exposition."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict[tuple[str, frozenset], float], name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in found.items() if n == name and wanted <= ls)


def test_metrics_of_a_single_process(catalog):
    client = create_app({"OAM_PREVIEW_BASEMAP_URL": ""}, catalog=catalog).test_client()
    before = samples(client.get("/metrics").get_data(as_text=True))
    tile = "/api/images/synthetic_cog/tiles/16/48299/27517.png"
    assert client.get(tile).status_code == 200
    assert client.get(tile).status_code == 200
    assert client.get("/api/images/nope").status_code == 404
    r = client.get("/metrics")
    assert r.status_code == 200 and r.mimetype == "text/plain"
    after = samples(r.get_data(as_text=True))

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("oam_preview_requests_total", route=TILE_RULE, status="200") == 2
    assert delta("oam_preview_requests_total", route="/api/images/<image_id>", status="404") == 1
    assert delta("oam_preview_request_duration_seconds_count", route=TILE_RULE) == 2
    assert delta("oam_preview_renders_total") == 1
    assert delta("oam_preview_cache_requests_total", tier="local", result="hit") == 1
    assert delta("oam_preview_upstream_reads_total", outcome="ok") >= 1
    assert ("oam_preview_breaker_state", frozenset({("host", "127.0.0.1:" + tile_port(catalog))})) in after


def tile_port(catalog) -> str:
    return catalog.get("synthetic_cog").source_url.split(":")[2].split("/")[0]


def per_worker(directory: Path, name: str, **labels: str) -> dict[int, float]:
    """``{pid: value}`` of one counter, read from each worker's own file of the multiprocess dir."""
    found = {}
    for path in directory.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        alone = directory.parent / f"one-{pid}"
        alone.mkdir(exist_ok=True)
        shutil.copy(path, alone / path.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))
        found[pid] = value(
            {(s.name, frozenset(s.labels.items())): s.value for m in registry.collect() for s in m.samples},
            name,
            **labels,
        )
        shutil.rmtree(alone)
    return found


def fetch(url: str) -> int:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (loopback)
        response.read()
        return response.status


def test_metrics_are_summed_over_gunicorn_workers(tiff_server, tiff_dir, tmp_path):
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(catalog_doc(tiff_server.url, ["synthetic_cog.tif"])))
    directory = tmp_path / "metrics"
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    directory.mkdir()
    (directory / "counter_1.db").write_bytes(b"from a previous run")  # emptied by serve
    with Server(catalog, free_port(), workers=2, threads=4, env=env) as server:
        base = server.url + "/api/images/synthetic_cog/tiles/17"
        urls = [f"{base}/{96598 + dx}/{55034 + dy}.png" for dx in range(3) for dy in range(3)]
        sent = 0
        for _ in range(5):  # rounds of concurrent requests until both workers have answered some
            statuses: list[int] = []
            threads = [
                threading.Thread(target=lambda u=u, out=statuses: out.append(fetch(u))) for u in urls * 2
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert statuses == [200] * len(threads)
            sent += len(threads)
            answered = per_worker(directory, "oam_preview_requests_total", route=TILE_RULE)
            if sum(1 for v in answered.values() if v) >= 2:
                break
        assert sum(1 for v in answered.values() if v) >= 2, answered
        found = samples(urllib.request.urlopen(server.url + "/metrics", timeout=10).read().decode())
        assert value(found, "oam_preview_requests_total", route=TILE_RULE, status="200") == sent
        assert value(found, "oam_preview_worker_threads") == 8  # 2 live workers x 4 threads
        # Each worker renders each tile at most once (no Redis here: no sharing between workers).
        assert len(urls) <= value(found, "oam_preview_renders_total") <= len(urls) * 2
        assert value(found, "oam_preview_requests_in_flight") >= 1  # this very request
    assert not (directory / "counter_1.db").exists()
    assert directory.exists()  # given by the operator: emptied, not removed


def test_serve_removes_its_own_metrics_directory(tiff_server, tmp_path):
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(catalog_doc(tiff_server.url, ["synthetic_cog.tif"])))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    with Server(catalog, free_port(), workers=1, threads=2, env={"TMPDIR": str(tmp)}) as server:
        assert fetch(server.url + "/metrics") == 200
        made = list(tmp.glob("oam-preview-metrics-*"))
        assert len(made) == 1 and list(made[0].glob("*.db"))
    assert not list(tmp.glob("oam-preview-metrics-*"))
