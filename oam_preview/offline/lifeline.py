"""The server's lifeline: how the processes a server starts end with it (its export jobs).

``oam-preview serve`` (and ``deploy/gunicorn.conf.py``) open it in gunicorn's
master before the workers fork (:func:`open_lifeline`): a pipe whose write end
only the master and its forked workers hold, and whose read end's descriptor
the workers find in the environment (:data:`ENV`, :func:`inherited`) and hand
to the processes they start that must not outlive the server
(:mod:`oam_preview.offline.worker`), which :func:`watch` it. Nothing is ever
written to it: once the master and its workers are gone (stopped, or killed:
workers leave when their master does), the kernel closes the write end and the
watchers read the end of the file.

Not a signal to the server's process group: a job has a session of its own, so
that a Ctrl-C to the server or a worker's restart (``--max-requests``) leaves
it running. Not a pid to poll: the master's pid may be reused, and a watcher
learns nothing until it polls.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable

#: The environment variable that tells a server's workers the lifeline's read end:
#: ``FD:INODE``, its descriptor and the pipe's inode (another pipe may have that number).
ENV = "OAM_PREVIEW_SERVER_LIFELINE"


def open_lifeline() -> int:
    """In a server's master, before its workers fork: open the lifeline (once a process) and name
    its read end in the environment (:data:`ENV`) for them; that descriptor. The write end is
    never written and stays open as long as the master (or a worker) lives."""
    known = inherited()
    if known is not None:
        return known
    read, _write = os.pipe()  # neither is inherited by a program a process runs (PEP 446)
    os.environ[ENV] = f"{read}:{os.fstat(read).st_ino}"
    return read


def inherited() -> int | None:
    """In a server's worker: the lifeline's read end, to hand on to a process that must end with
    the server; ``None`` outside a server (or when :data:`ENV` names no such pipe here: the
    variable was copied into a process that did not get the descriptor)."""
    fd, _, inode = os.environ.get(ENV, "").partition(":")
    if not (fd.isdigit() and inode.isdigit()):
        return None
    try:
        found = os.fstat(int(fd))
    except OSError:
        return None
    return int(fd) if stat.S_ISFIFO(found.st_mode) and found.st_ino == int(inode) else None


def watch(fd: int, ended: Callable[[], None]) -> None:
    """Call ``ended`` on a daemon thread once the lifeline ``fd`` (its read end) ends: the server
    stopped (at once if it already has)."""

    def wait() -> None:
        try:
            while os.read(fd, 1):  # nothing is written: returns b"" at the end
                pass
        except OSError:
            pass  # the descriptor is not the lifeline after all: as good as ended
        ended()

    threading.Thread(target=wait, name="oam-preview-lifeline", daemon=True).start()
