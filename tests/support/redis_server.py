"""A throwaway ``redis-server`` on a loopback port: started, stopped and restarted by the tests."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from .processes import stop_process
from .system import missing


def redis_binary() -> str:
    """The redis-server binary; skips the test without one (fails in CI, which installs it)."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server")
        raise AssertionError  # unreachable: missing() raises
    return binary


class RedisServer:
    """``redis-server`` without persistence on 127.0.0.1:``port``, its working files in ``directory``."""

    def __init__(self, port: int, directory: Path) -> None:
        self.port = port
        self.directory = directory
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> RedisServer:
        import redis

        command = [
            redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--enable-debug-command", "local",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=self.directory, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
            finally:
                client.close()

    def client(self):  # noqa: ANN201 (redis is optional)
        import redis

        return redis.Redis(port=self.port)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
