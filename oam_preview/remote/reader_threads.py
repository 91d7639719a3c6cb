"""Threads of our own that run GDAL reads for :class:`~oam_preview.remote.opener.Opener`."""

from __future__ import annotations

import concurrent.futures
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .gdal_safety import reset_gdal_errors

T = TypeVar("T")
THREAD_NAME = "oam-preview-read"


def on_reader_thread() -> bool:
    """Whether the calling thread is one of :class:`ReaderThreads`' (work on it must not wait
    for more work on them: they may all be taken)."""
    return threading.current_thread().name == THREAD_NAME


#: What :meth:`ReaderThreads.close` queues for each thread: the end of its work.
_STOP: Any = object()


class ReaderThreads:
    """Up to ``size`` daemon threads, started as work needs them, that run GDAL reads.

    Not ``concurrent.futures.ThreadPoolExecutor``: it refuses work once the
    interpreter starts to exit, which is when a gunicorn worker restarting
    (``--max-requests``) still finishes the requests it accepted; and its
    threads would hold the exit up behind a read stuck on a hanging host.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._work: queue.SimpleQueue[tuple[concurrent.futures.Future[Any], Callable[[], Any]]] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0

    def submit(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._work.put((future, fn))
        with self._lock:
            start = self._idle == 0 and self._threads < self.size
            if start:
                self._threads += 1
        if start:
            threading.Thread(target=self._serve, name=THREAD_NAME, daemon=True).start()
        return future

    def close(self) -> None:
        """No more work: each thread ends once the work queued before this is done (the readers
        of an Opener made for one job, a report's, are not kept for the process's life)."""
        with self._lock:
            threads, self.size = self._threads, 0  # and no thread is started after this
        for _ in range(threads):
            self._work.put(_STOP)

    def _serve(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            item = self._work.get()
            with self._lock:
                self._idle -= 1
                if item is _STOP:
                    self._threads -= 1
                    return
            future, fn = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                # Each read in a context of its own, as on a new thread: rasterio keeps the GDAL
                # errors of a call in a context variable, and those of a read that failed here
                # (one a request gave up waiting for, on a slow host) must not surface in the
                # next read on this thread, another image's.
                reset_gdal_errors()
                future.set_result(contextvars.Context().run(fn))
            except BaseException as exc:  # handed to the waiting request
                future.set_exception(exc)
