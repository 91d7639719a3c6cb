"""The reader threads run each read as if on a thread of its own: nothing one read leaves in its
context (rasterio keeps a call's GDAL errors in a context variable; a request's deadline) reaches
the next read on that thread, another image's."""

from __future__ import annotations

import contextvars
import threading

from oam_preview import deadline
from oam_preview.remote.reader_threads import ReaderThreads

LEFT_BEHIND: contextvars.ContextVar[str] = contextvars.ContextVar("left_behind", default="nothing")


def test_a_read_does_not_see_what_the_previous_read_on_its_thread_left():
    readers = ReaderThreads(1)  # one thread: the second read runs where the first did

    def first() -> int:
        LEFT_BEHIND.set("the first read's state")
        deadline.resume(12.0)
        return threading.get_ident()

    def second() -> tuple[int, str, float | None]:
        return threading.get_ident(), LEFT_BEHIND.get(), deadline.current()

    thread = readers.submit(first).result(timeout=10)
    same_thread, seen, at = readers.submit(second).result(timeout=10)
    assert same_thread == thread
    assert (seen, at) == ("nothing", None)
