"""The actors on a real Redis broker with a real Dramatiq worker (in this process, so a
fault can be injected): retries, then INTERNAL quarantine; the follow-up message."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import structlog.testing

import workers.actors
from pipeline.app.compose import Composition
from pipeline.app.settings import load_settings
from pipeline.intake.scratch import remove_stale_scratch_at_start
from workers.actors import PipelineActors
from tests.support.waiting import wait_until
from tests.support.running import good_package


@pytest.fixture
def actors(broker, redis_server, redis_client, tmp_path: Path) -> PipelineActors:
    """The pipeline's actors declared on the test's broker, with services composed for a
    data folder of the test (run by the ``worker`` fixture)."""
    settings = load_settings(env={"REDIS_URL": redis_server.url, "PIPELINE_DATA_DIR": str(tmp_path / "data"),
                                  "PIPELINE_MAX_RETRIES": "2", "PIPELINE_MIN_BACKOFF_MS": "50",
                                  "PIPELINE_MAX_BACKOFF_MS": "200"})
    # The spine's test: only the reader's rules; the content rules have their own tests.
    composition = Composition(settings, checks=())
    return PipelineActors(broker, composition, composition.actor_options())


def drop(data: Path, name: str, blob: bytes) -> dict[str, Any]:
    path = data / "inbox" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    st = path.stat()
    return {"location": name, "size": st.st_size, "stamp": str(st.st_mtime_ns)}


def documents(data: Path, area: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text("utf-8")) for p in (data / area).glob("*/*/*.json")]


def test_poison_package_is_retried_then_quarantined_as_internal(actors, worker, tmp_path, monkeypatch):
    data = tmp_path / "data"
    attempts: list[str] = []
    real_ingest = workers.actors.ingest

    def poisoned(request, services):
        if request.location == "poison.zip":
            attempts.append(request.location)
            raise RuntimeError("a check crashed")
        return real_ingest(request, services)

    monkeypatch.setattr(workers.actors, "ingest", poisoned)
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


def test_a_worker_process_removes_stale_scratch_of_dead_processes_at_start(redis_server, tmp_path):
    """The worker boot (``pipeline.app.worker:setup``, what the Dramatiq CLI and ``pipeline
    worker`` run in each worker process) removes the scratch folders of this host's dead
    processes, and only those."""
    work = tmp_path / "data" / "work"
    host = socket.gethostname()
    dead = work / f"{host}-999999999-v1"  # beyond any pid_max
    alive = work / f"{host}-{os.getpid()}-v2"  # this test process
    other_host = work / "another-host-1-v3"
    for folder in (dead, alive, other_host):
        (folder / "package").mkdir(parents=True)
    env = {**os.environ, "REDIS_URL": redis_server.url, "PIPELINE_DATA_DIR": str(tmp_path / "data"),
           "PIPELINE_LOG_FORMAT": "json"}
    env.pop("PIPELINE_CONFIG", None)
    result = subprocess.run([sys.executable, "-c", "from pipeline.app.worker import setup; setup()"], env=env,
                            cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert not dead.exists()
    assert alive.exists() and other_host.exists()
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    (removed,) = [e for e in events if e["event"] == "worker.stale_work_removed"]
    assert removed["folders"] == 1 and removed["level"] == "info"


def test_stale_scratch_of_an_earlier_process_with_this_pid_is_removed(tmp_path):
    """Pids repeat (a restarted container starts its workers with the same pids): at start
    nothing has run in this process yet, so a folder with its own pid is stale."""
    host = socket.gethostname()
    mine = tmp_path / f"{host}-{os.getpid()}-v1"
    alive = tmp_path / f"{host}-{os.getppid()}-v2"  # the parent: alive
    for folder in (mine, alive):
        folder.mkdir()
    with structlog.testing.capture_logs() as logs:
        assert remove_stale_scratch_at_start(tmp_path) == [mine]
    assert not mine.exists() and alive.exists()
    assert [(x["event"], x["folders"]) for x in logs] == [("worker.stale_work_removed", 1)]
    with structlog.testing.capture_logs() as logs:
        assert remove_stale_scratch_at_start(tmp_path / "missing") == []
    assert logs == []  # nothing removed, nothing logged


def test_importing_the_code_builds_nothing(tmp_path):
    """Every module imports without settings, Redis or a broker: nothing is built at
    import (the worker boot and the composition root build, when they are called)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_", "REDIS_", "S3_", "SMTP_"))}
    env["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there: a connection would fail
    code = ("import pkgutil, importlib, dramatiq.broker, pipeline, workers\n"
            "for root in (pipeline, workers):\n"
            "    for m in pkgutil.walk_packages(root.__path__, root.__name__ + '.'):\n"
            "        if m.name != 'pipeline.__main__':\n"
            "            importlib.import_module(m.name)\n"
            "assert dramatiq.broker.global_broker is None, dramatiq.broker.global_broker\n"
            "print('imported')")
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported" and not (tmp_path / "var").exists()


def test_packages_are_decided_while_announcements_and_mails_are_stuck(actors, broker, tmp_path, monkeypatch):
    """A worker process's thread pools (pipeline/app/worker.py): with its one announcement
    thread stuck in a catalogue write and its mail threads stuck, packages are still
    decided, one after another, on the package threads."""
    from pipeline.app.worker import thread_pools

    data = tmp_path / "data"
    release = threading.Event()
    stuck: list[str] = []

    def stuck_recording(*args: Any, **kwargs: Any) -> None:
        stuck.append("announcement")
        release.wait(60)  # (an index write that hangs)

    monkeypatch.setattr(workers.actors, "record_decision", stuck_recording)
    settings = load_settings(env={"PIPELINE_WORKER_THREADS": "1", "PIPELINE_MAIL_THREADS": "1"})
    pools = [dramatiq.Worker(broker, queues=queues, worker_threads=threads, worker_timeout=100)
             for queues, threads in thread_pools(settings)]
    for pool in pools:
        pool.start()
    try:
        with structlog.testing.capture_logs() as logs:
            actors.ingest_package.send(drop(data, "p0.zip", good_package("p0")))
            wait_until(lambda: stuck, 60, message="the first announcement stuck")
            for n in (1, 2):  # sent once the announcement thread is held
                actors.ingest_package.send(drop(data, f"p{n}.zip", good_package(f"p{n}")))
            wait_until(lambda: len(documents(data, "archive")) == 3, 60, message="three packages decided")
            decided = [x for x in logs if x["event"] == "package.decided"]
        assert len(decided) == 3 and stuck == ["announcement"]  # the one thread is still stuck
        assert not [x for x in logs if x["event"] == "decision.announced"]
    finally:
        release.set()
        for pool in pools:
            pool.stop(timeout=5000)
