"""The actors on a real Redis broker with a real Dramatiq worker (in this process, so a
fault can be injected): retries, then INTERNAL quarantine; the follow-up message."""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys
from pathlib import Path
from typing import Any, Iterator

import dramatiq
import pytest
import structlog.testing

from tests.conftest import wait_until
from tests.test_end_to_end import good_package


@pytest.fixture
def actors(redis_server, redis_client, tmp_path: Path, monkeypatch) -> Iterator[Any]:
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PIPELINE_MAX_RETRIES", "2")
    monkeypatch.setenv("PIPELINE_MIN_BACKOFF_MS", "50")
    monkeypatch.setenv("PIPELINE_MAX_BACKOFF_MS", "200")
    monkeypatch.setenv("PIPELINE_LOG_FORMAT", "json")
    import workers.runtime
    importlib.reload(workers.runtime)
    if "workers.actors" in sys.modules:
        module = importlib.reload(sys.modules["workers.actors"])
    else:
        module = importlib.import_module("workers.actors")
    # The spine's test: only the reader's rules; the content rules have their own tests.
    runtime = workers.runtime.runtime
    runtime.__dict__["_services"] = dataclasses.replace(runtime.services(), checks=())
    worker = dramatiq.Worker(workers.runtime.runtime.broker, worker_threads=2, worker_timeout=100)
    worker.start()
    yield module
    worker.stop(timeout=5000)
    workers.runtime.runtime.broker.close()


def drop(data: Path, name: str, blob: bytes) -> dict[str, Any]:
    path = data / "inbox" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    st = path.stat()
    return {"location": name, "size": st.st_size, "stamp": str(st.st_mtime_ns)}


def documents(data: Path, area: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text("utf-8")) for p in (data / area).glob("*/*/*.json")]


def test_poison_package_is_retried_then_quarantined_as_internal(actors, tmp_path, monkeypatch):
    data = tmp_path / "data"
    attempts: list[str] = []
    real_ingest = actors.ingest

    def poisoned(request, services):
        if request.location == "poison.zip":
            attempts.append(request.location)
            raise RuntimeError("a check crashed")
        return real_ingest(request, services)

    monkeypatch.setattr(actors, "ingest", poisoned)
    blob = good_package("poison")
    with structlog.testing.capture_logs() as logs:
        actors.ingest_package.send(drop(data, "poison.zip", blob))
        actors.ingest_package.send(drop(data, "healthy.zip", good_package("healthy")))
        wait_until(lambda: len(documents(data, "quarantine")) == 1 and documents(data, "archive"), 60,
                   message="internal quarantine and the healthy package's receipt")
        wait_until(lambda: len([x for x in logs if x["event"] == "decision.announced"]) == 2, 30,
                   message="both decisions announced")
    doc = documents(data, "quarantine")[0]
    assert [e["code"] for e in doc["errors"]] == ["INTERNAL"] and doc["package"]["name"] == "poison.zip"
    assert len(attempts) == 3  # the first run and two retries
    zip_path = next((data / "quarantine").glob("*/*/poison.zip"))
    assert zip_path.read_bytes() == blob
    assert documents(data, "archive")[0]["status"] == "accepted"
    assert {x["status"] for x in logs if x["event"] == "decision.announced"} == {"accepted", "rejected"}
    internal = [x for x in logs if x["event"] == "package.internal"]
    assert len(internal) == 1 and internal[0]["log_level"] == "error" and "a check crashed" in internal[0]["reason"]
    assert not list((data / "inbox").glob("*.zip")) and not any((data / "claimed").iterdir())
