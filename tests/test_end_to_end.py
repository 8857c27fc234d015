"""End to end: `pipeline run` as a subprocess with its embedded Redis and real workers."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Iterator

import psutil
import pytest

from pipeline.check.documents import schema_errors
from tests.support.waiting import wait_until
from tests.support.running import Pipeline, by_name, decisions, good_package, inbox_files

pytestmark = pytest.mark.slow


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    # the rotating log file under the data folder, as `make run` keeps it
    p = Pipeline(tmp_path / "data", tmp_path / "pipeline.log",
                 env={"PIPELINE_LOG_FILE": str(tmp_path / "data" / "logs" / "pipeline.log")})
    p.start()
    yield p
    p.kill()


def test_drop_slow_renamed_and_bad_packages(pipeline: Pipeline):
    data = pipeline.data
    slow_bytes, renamed_bytes = good_package("slow"), good_package("renamed")
    (data / "inbox" / "xinghuo").mkdir(parents=True)
    # 1. written slowly in place, as an SFTP server writes an upload
    slow = data / "inbox" / "xinghuo" / "星火20261120.zip"
    with open(slow, "wb") as fh:
        step = len(slow_bytes) // 8 + 1
        for i in range(0, len(slow_bytes), step):
            fh.write(slow_bytes[i:i + step])
            fh.flush()
            time.sleep(0.15)
    # 2. uploaded under a temporary name, then renamed in (WinSCP's .filepart)
    part = data / "inbox" / "renamed.zip.filepart"
    part.write_bytes(renamed_bytes)
    part.rename(data / "inbox" / "renamed.zip")
    # 3. a RAR by mistake
    (data / "inbox" / "wrong.zip").write_bytes(b"Rar!\x1a\x07\x01\x00" + os.urandom(3000))

    # 4. an upload broken off (no end record): waits for the stale-upload timeout, then PKG_CORRUPT
    broken = good_package("broken")
    (data / "inbox" / "broken.zip").write_bytes(broken[:len(broken) // 2])

    wait_until(lambda: len(decisions(data)) >= 4, 60, message="four decisions")
    wait_until(lambda: not any((data / "claimed").iterdir()), 30, message="claims released")  # ZIPs in place
    folder, doc = by_name(data, "星火20261120.zip")
    assert doc["status"] == "accepted" and schema_errors(doc) == []
    assert doc["source"] == {"kind": "fs", "location": "inbox/xinghuo/星火20261120.zip", "account": "xinghuo"}
    assert (folder / "星火20261120.zip").read_bytes() == slow_bytes
    assert doc["package"]["sha256"] == hashlib.sha256(slow_bytes).hexdigest()
    assert sorted(p.name for p in folder.iterdir()) == ["receipt.json", "星火20261120.zip"]
    assert folder.parent.parent.name == "archive"

    folder, doc = by_name(data, "renamed.zip")
    assert doc["status"] == "accepted" and (folder / "renamed.zip").read_bytes() == renamed_bytes

    folder, doc = by_name(data, "wrong.zip")
    assert doc["status"] == "rejected" and schema_errors(doc) == []
    assert [e["code"] for e in doc["errors"]] == ["PKG_NOT_ZIP"]
    assert folder.parent.parent.name == "quarantine"
    assert sorted(p.name for p in folder.iterdir()) == ["errors.json", "wrong.zip"]

    folder, doc = by_name(data, "broken.zip")
    assert doc["status"] == "rejected" and [e["code"] for e in doc["errors"]] == ["PKG_CORRUPT"]

    # the same bytes again under another name: a duplicate, not archived twice
    (data / "inbox" / "again.zip").write_bytes(slow_bytes)
    wait_until(lambda: by_name(data, "again.zip"), 30, message="duplicate decision")
    folder, doc = by_name(data, "again.zip")
    original = by_name(data, "星火20261120.zip")[1]
    assert doc["status"] == "duplicate" and doc["duplicate_of"] == original["receipt_id"]
    assert folder.parent.parent.name == "quarantine"

    wait_until(lambda: not inbox_files(data), 10, message="empty inbox")
    # the document is written before the ZIP is moved beside it and the claim let go
    wait_until(lambda: not any((data / "claimed").iterdir()), 30, message="claims released")
    wait_until(lambda: not any((data / "work").iterdir()), 10, message="clean work area")
    # (the line is written after the claim is let go: wait for it rather than race it)
    wait_until(lambda: sum(e.get("event") == "package.decided" for e in pipeline.events()) >= 5, 10,
               message="five decisions logged")
    decided = [e for e in pipeline.events() if e.get("event") == "package.decided"]
    assert len(decided) == 5 and all(e.get("receipt_id") and e.get("source") for e in decided)
    # every line about one package carries the same source (as the inbox names it) and,
    # once known, the same receipt id: the watcher's, the worker's, the announcement's, the mail's
    wait_until(lambda: sum(e.get("event") == "mail.sent" for e in _file_events(data)) >= 5, 30,
               message="five receipts mailed")
    lines = [e for e in _file_events(data) if e.get("source") == "xinghuo/星火20261120.zip"]
    events = {e["event"] for e in lines}
    assert {"watcher.enqueued", "package.decided", "decision.announced", "mail.sent"} <= events, events
    assert {e["receipt_id"] for e in lines if e.get("receipt_id")} == {original["receipt_id"]}
    assert not [e for e in _file_events(data) if str(e.get("source", "")).startswith("inbox/")]
    assert {e.get("process") for e in _file_events(data)} >= {"supervisor", "watcher", "worker"}
    assert pipeline.stop() < 10


def _file_events(data: Path) -> list[dict]:
    """The JSON lines of the log file under the data folder (every process writes it)."""
    out = []
    for line in (data / "logs" / "pipeline.log").read_text(encoding="utf-8").splitlines():
        out.append(json.loads(line))  # every line is one JSON object: no interleaving
    return out


def test_restart_processes_waiting_packages_and_dead_children_come_back(pipeline: Pipeline):
    data = pipeline.data
    assert pipeline.stop() < 10
    assert pipeline.proc.returncode == 0
    waiting = {f"w{i}.zip": good_package(f"w{i}") for i in range(3)}
    for name, blob in waiting.items():
        (data / "inbox" / name).write_bytes(blob)
    pipeline.start()
    wait_until(lambda: all(by_name(data, n) for n in waiting), 60, message="waiting packages decided")
    # each document is written before its ZIP is moved beside it and the claim let go
    wait_until(lambda: not any((data / "claimed").iterdir()), 30, message="claims released")
    for name, blob in waiting.items():
        folder, doc = by_name(data, name)
        assert doc["status"] == "accepted" and (folder / name).read_bytes() == blob

    # a worker process killed outright is restarted, and work goes on
    children = psutil.Process(pipeline.proc.pid).children()
    workers = [c for c in children if "worker" in c.cmdline()]
    assert len(workers) == 2
    watcher = next(c for c in children if "watch" in c.cmdline())
    redis_server = next(c for c in children if "redis-server" in c.cmdline()[0])

    def restarted(name: str) -> bool:
        return any(e.get("event") == "supervisor.child_restarted" and e.get("child") == name
                   for e in pipeline.events())

    for victim in (workers[0], watcher, redis_server):
        victim.send_signal(signal.SIGKILL)
        wait_until(lambda: any(e.get("event") == "supervisor.child_exited" and e.get("pid") == victim.pid
                               for e in pipeline.events()), 30, message=f"{victim.pid} seen dead")
    for name in ("watcher", "redis"):
        wait_until(lambda: restarted(name), 30, message=f"{name} restarted")
    assert sum(e.get("event") == "supervisor.child_restarted" for e in pipeline.events()) == 3
    (data / "inbox" / "after-kill.zip").write_bytes(good_package("after-kill"))
    wait_until(lambda: by_name(data, "after-kill.zip"), 90, message="decision after children were killed")
    assert pipeline.stop() < 10
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


def test_children_stop_when_the_supervisor_is_killed(pipeline: Pipeline):
    children = psutil.Process(pipeline.proc.pid).children()
    assert len(children) == 4  # redis, watcher, 2 workers
    pipeline.proc.kill()  # SIGKILL: no chance to stop them itself
    pipeline.proc.wait(10)
    wait_until(lambda: not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE], 20,
               message="children gone with their supervisor")
