"""The gunicorn master's side of the multiprocess metrics: their directory and the worker hooks.

prometheus-client picks its multiprocess storage when it is first imported,
so ``PROMETHEUS_MULTIPROC_DIR`` must be in the environment before any worker
imports it; this module imports it only inside the hooks, after that.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_directory() -> tuple[Path, bool]:
    """Before the workers start: ``PROMETHEUS_MULTIPROC_DIR`` emptied, or a new temporary one set
    in the environment; ``(directory, whether it is ours to remove at exit)``."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.glob("*.db"):  # a previous run's values would be summed in
            old.unlink()
        return directory, False
    directory = Path(tempfile.mkdtemp(prefix="oam-preview-metrics-"))
    os.environ[MULTIPROC_ENV] = str(directory)
    return directory, True


def remove_directory(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def post_worker_init(worker: Any) -> None:
    """gunicorn hook, in a worker once its app is loaded: count its threads as capacity."""
    from .metrics import worker_started

    worker_started(int(worker.cfg.threads))


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn hook, in the master when a worker exits: drop its live gauges (counters stay)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
