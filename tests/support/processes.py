"""Child processes of the tests and benchmarks: free ports, ``oam-preview serve``, waiting, stopping.

Everything listens on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_command(
    catalog: str, port: int, workers: int = 1, threads: int = 8, max_requests: int = 0
) -> list[str]:
    """The argv that runs ``oam-preview serve`` on 127.0.0.1 in a child process."""
    return [
        sys.executable, "-m", "oam_preview.cli", "serve", "--catalog", catalog, "--port", str(port),
        "--workers", str(workers), "--threads", str(threads), "--max-requests", str(max_requests),
    ]  # fmt: skip


def wait_for_healthz(base_url: str, process: subprocess.Popen | None = None, timeout: float = 60) -> None:
    """Poll ``base_url/healthz`` until it answers 200; fail if ``process`` dies or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
            raise RuntimeError(f"{base_url} did not start")
        time.sleep(0.1)


def stop_process(process: subprocess.Popen, timeout: float = 10, sig: int = signal.SIGTERM) -> None:
    """Send ``sig``, wait up to ``timeout`` seconds, then kill."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
