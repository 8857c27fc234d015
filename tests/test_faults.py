"""Fault injection with real processes: `pipeline run` (embedded Redis, real worker
processes), killed, stalled or starved at the named fault points of pipeline/faults.py.

After each: every package has exactly one decision, its ZIP byte-identical in exactly
one place, the first decision never changed, one mail per decision, the inbox and the
claims empty.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import psutil
import pytest

from tests.conftest import wait_until
from tests.packages import sample_package
from tests.test_end_to_end import Pipeline

pytestmark = pytest.mark.slow

#: quick recovery of a killed worker's message (Dramatiq's maintenance) and of claims
#: whose message was lost (the watcher's scan), so the tests take seconds, not minutes
FAST_RECOVERY = {
    "PIPELINE_HEARTBEAT_TIMEOUT_MS": "3000",
    "PIPELINE_MAINTENANCE_CHANCE": "200000",
    "PIPELINE_REQUEUE_AFTER": "8",
    "PIPELINE_SCAN_INTERVAL": "2",
    "PIPELINE_LEASE_SECONDS": "6",
    "PIPELINE_MIN_BACKOFF_MS": "300",
    "PIPELINE_MAX_BACKOFF_MS": "1000",
}


def start(tmp_path: Path, **env: str) -> Pipeline:
    p = Pipeline(tmp_path / "data", tmp_path / "pipeline.log", {**FAST_RECOVERY, **env})
    p.start()
    return p


@pytest.fixture
def cleanup() -> Iterator[list[Pipeline]]:
    started: list[Pipeline] = []
    yield started
    for p in started:
        if p.proc and p.proc.poll() is None:
            children = psutil.Process(p.proc.pid).children(recursive=True)
            p.proc.kill()
            for child in children:
                child.kill()


def drop(p: Pipeline, name: str, data: bytes) -> None:
    staging = p.data / "staging"
    staging.mkdir(parents=True, exist_ok=True)
    (staging / name).write_bytes(data)
    (p.data / "inbox").mkdir(parents=True, exist_ok=True)
    os.rename(staging / name, p.data / "inbox" / name)  # as an SFTP client's rename


def decision_files(data: Path) -> dict[str, list[tuple[Path, dict[str, Any]]]]:
    """package name -> every decision (folder, document) stored for it."""
    out: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    for area in ("archive", "quarantine"):
        for doc_path in (data / area).glob("*/*/*.json"):
            doc = json.loads(doc_path.read_text(encoding="utf-8"))
            out.setdefault(doc["package"]["name"], []).append((doc_path.parent, doc))
    return out


def assert_exactly_once(p: Pipeline, sent: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    """Every package decided once, its bytes intact in one place, one mail each."""
    data = p.data
    decided = decision_files(data)
    docs = {}
    for name, blob in sent.items():
        assert len(decided.get(name, [])) == 1, f"{name}: {len(decided.get(name, []))} decisions"
        folder, doc = decided[name][0]
        assert (folder / name).read_bytes() == blob
        assert doc["package"]["sha256"] == hashlib.sha256(blob).hexdigest()
        docs[name] = doc
    stored = [f for area in ("archive", "quarantine") for f in (data / area).glob("*/*/*.zip")]
    assert len(stored) == len(sent)
    assert not [f for f in (data / "inbox").rglob("*") if f.is_file()]
    assert not any((data / "claimed").iterdir())
    wait_until(lambda: len(list((data / "outbox").glob("*.eml"))) == len(sent), 30, message="one mail each")
    mails = sorted(f.stem for f in (data / "outbox").glob("*.eml"))
    assert mails == sorted(d["receipt_id"] for d in docs.values())
    return docs


def all_decided(p: Pipeline, names) -> bool:
    decided = decision_files(p.data)
    return all(n in decided for n in names)


def events(p: Pipeline, name: str) -> list[dict[str, Any]]:
    return [e for e in p.events() if e.get("event") == name]


@pytest.mark.parametrize("point", ["after_claim", "after_assess", "after_decision", "before_release"])
def test_worker_killed_at_each_step_is_finished_once(tmp_path: Path, cleanup, point: str):
    p = start(tmp_path, PIPELINE_FAULT_POINTS=f"{point}=kill-once")
    cleanup.append(p)
    sent = {f"{point}-{i}.zip": sample_package(f"{point}-{i}") for i in range(2)}
    for name, blob in sent.items():
        drop(p, name, blob)
    wait_until(lambda: all_decided(p, sent), 90, message=f"decisions after kills at {point}")
    wait_until(lambda: not any((p.data / "claimed").iterdir()), 90, message="claims released")
    docs = assert_exactly_once(p, sent)
    assert all(d["status"] == "accepted" for d in docs.values())
    killed = [e for e in events(p, "supervisor.child_exited") if e.get("exit_code") == -signal.SIGKILL]
    assert len(killed) == len(sent)  # each package killed its worker once
    if point in ("after_decision", "before_release"):
        # the recorded first decision was finished, not re-made: one receipt id per package
        decided_lines = events(p, "package.decided")
        for name, doc in docs.items():
            assert {e["receipt_id"] for e in decided_lines if e["source"] == name} == {doc["receipt_id"]}
    assert p.stop() < 10


def test_poison_package_is_quarantined_as_internal_and_others_go_on(tmp_path: Path, cleanup):
    p = start(tmp_path, PIPELINE_FAULT_POINTS="after_claim=raise@poison", PIPELINE_MAX_RETRIES="2")
    cleanup.append(p)
    sent = {"poison.zip": sample_package("poison"), "healthy-1.zip": sample_package("h1"),
            "healthy-2.zip": sample_package("h2")}
    for name, blob in sent.items():
        drop(p, name, blob)
    wait_until(lambda: all_decided(p, sent), 90, message="all decided")
    docs = assert_exactly_once(p, sent)
    assert [e["code"] for e in docs["poison.zip"]["errors"]] == ["INTERNAL"]
    assert docs["healthy-1.zip"]["status"] == docs["healthy-2.zip"]["status"] == "accepted"
    internal = events(p, "package.internal")
    assert len(internal) == 1 and internal[0]["level"] == "error" and internal[0]["source"] == "poison.zip"
    assert p.stop() < 10


def test_sigterm_mid_package_then_restart(tmp_path: Path, cleanup):
    p = start(tmp_path, PIPELINE_FAULT_POINTS="after_assess=sleep=4")
    cleanup.append(p)
    sent = {"slow.zip": sample_package("slow")}
    drop(p, "slow.zip", sent["slow.zip"])
    wait_until(lambda: events(p, "package.checking"), 30, message="the package being checked")
    assert p.stop() < 10
    assert not decision_files(p.data)  # stopped before its decision
    p.extra_env.pop("PIPELINE_FAULT_POINTS")
    p.start()
    wait_until(lambda: all_decided(p, sent), 90, message="decision after the restart")
    assert assert_exactly_once(p, sent)["slow.zip"]["status"] == "accepted"
    assert p.stop() < 10


def test_redis_killed_mid_run_loses_nothing(tmp_path: Path, cleanup):
    p = start(tmp_path)
    cleanup.append(p)
    sent = {f"r{i}.zip": sample_package(f"redis-{i}") for i in range(6)}
    names = list(sent)
    for name in names[:3]:
        drop(p, name, sent[name])
    redis_proc = next(c for c in psutil.Process(p.proc.pid).children() if "redis-server" in c.cmdline()[0])
    redis_proc.send_signal(signal.SIGKILL)
    for name in names[3:]:
        drop(p, name, sent[name])
    wait_until(lambda: any(e.get("child") == "redis" for e in events(p, "supervisor.child_restarted")), 30,
               message="redis restarted")
    wait_until(lambda: all_decided(p, sent), 120, message="every package decided after Redis came back")
    wait_until(lambda: not any((p.data / "claimed").iterdir()), 90, message="claims released")
    assert_exactly_once(p, sent)
    assert p.stop() < 10


def test_two_watchers_enqueue_each_upload_once(tmp_path: Path, cleanup):
    p = start(tmp_path)
    cleanup.append(p)
    url = events(p, "supervisor.embedded_redis")[0]["url"]
    env = {**os.environ, **FAST_RECOVERY, "REDIS_URL": url, "PIPELINE_DATA_DIR": str(p.data),
           "PIPELINE_LOG_FORMAT": "json"}
    log = open(tmp_path / "watcher2.log", "wb")
    second = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "watch"], env=env,
                              stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_until(lambda: b"watcher.started" in (tmp_path / "watcher2.log").read_bytes(), 30,
                   message="second watcher")
        sent = {f"w{i}.zip": sample_package(f"two-watchers-{i}") for i in range(8)}
        for name, blob in sent.items():
            drop(p, name, blob)
        wait_until(lambda: all_decided(p, sent), 90, message="decisions")
        assert_exactly_once(p, sent)
        both = p.log.read_text(errors="replace") + (tmp_path / "watcher2.log").read_text(errors="replace")
        enqueued = [json.loads(line) for line in both.splitlines()
                    if '"watcher.enqueued"' in line]
        assert sorted(e["source"] for e in enqueued) == sorted(sent)  # one message per upload
    finally:
        second.terminate()
        second.wait(10)
    assert p.stop() < 10


def test_disk_full_in_the_work_area_fails_cleanly_and_recovers(tmp_path: Path, cleanup):
    if os.geteuid() != 0:
        pytest.fail("this test mounts a tmpfs: run it as root (CI does)")
    data = tmp_path / "data"
    work = data / "work"
    work.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(work)], check=True)
    try:
        p = start(tmp_path, PIPELINE_MAX_RETRIES="30")
        cleanup.append(p)
        sent = {"big.zip": sample_package("disk-full")}
        drop(p, "big.zip", sent["big.zip"])
        wait_until(lambda: any("No space left" in json.dumps(e) for e in p.events()), 60,
                   message="a failure for lack of space")
        assert not decision_files(data)  # nothing decided, nothing half-moved
        assert (data / "claimed").exists() and any((data / "claimed").iterdir())  # still claimed
        subprocess.run(["mount", "-o", "remount,size=64m", str(work)], check=True)
        wait_until(lambda: all_decided(p, sent), 120, message="decision once space is back")
        assert assert_exactly_once(p, sent)["big.zip"]["status"] == "accepted"
        assert p.stop() < 10
    finally:
        subprocess.run(["umount", "-l", str(work)], check=False)
