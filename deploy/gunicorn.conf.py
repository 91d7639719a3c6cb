"""gunicorn settings of one oam-preview instance: ``gunicorn -c deploy/gunicorn.conf.py``.

The same settings as ``oam-preview serve``, for an operator who runs gunicorn
directly (``deploy/oam-preview.service`` does). The ``OAM_PREVIEW_*`` settings
come from the environment (see docs/API.md); ``OAM_PREVIEW_CATALOG`` is needed.
Workers and threads: see "Memory per worker" in docs/deploy.md.
"""

import os

from oam_preview import multiproc

wsgi_app = "oam_preview.app:create_app()"
bind = os.environ.get("OAM_PREVIEW_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("OAM_PREVIEW_WORKERS", os.cpu_count() or 1))
threads = int(os.environ.get("OAM_PREVIEW_THREADS", 8))
worker_class = "gthread"
timeout = 60
graceful_timeout = 30
keepalive = 5
accesslog = "-"
# Restart a worker after this many requests (0: never), spread so they don't restart at once.
max_requests = int(os.environ.get("OAM_PREVIEW_MAX_REQUESTS", 0))
max_requests_jitter = max_requests // 10

# The server owns its processes' GDAL: only the drivers a remote GeoTIFF needs.
os.environ.setdefault("OAM_PREVIEW_GDAL_DRIVERS", "GTiff COG MEM VRT")

# Every worker's metrics in one directory, summed by GET /metrics. The variable must be
# set before a worker imports prometheus-client, so here, in the master's config.
_metrics_dir, _own_metrics_dir = multiproc.prepare_directory()


def on_exit(server):
    if _own_metrics_dir:
        multiproc.remove_directory(_metrics_dir)


post_worker_init = multiproc.post_worker_init
child_exit = multiproc.child_exit
