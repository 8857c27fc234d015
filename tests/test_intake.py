"""Claim, decide once, store: each step safe to run twice (real Redis, real files)."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest
import structlog.testing

from pipeline.app.compose import Composition
from pipeline.intake import scratch
from pipeline.check.documents import schema_errors
from pipeline.intake.deciding import PackageBusy, Services, ingest, quarantine_internal, stuck_requests
from pipeline.intake.ledger import MemoryLedger, RedisLedger
from pipeline.intake.uploads import IngestRequest
from tests.support.running import good_package


@pytest.fixture(params=["redis", "memory"])
def services(request, settings, redis_server, redis_client) -> Services:
    ledger = RedisLedger(redis_client) if request.param == "redis" else MemoryLedger()
    # The spine's tests: only the reader's rules (section 1); the content rules have their own tests.
    return Composition(settings, ledger=ledger, checks=()).services


def drop(services: Services, relative: str, data: bytes) -> IngestRequest:
    path = services.store.inbox / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    st = path.stat()
    return IngestRequest(relative, st.st_size, str(st.st_mtime_ns))


def decided_files(services: Services) -> list[Path]:
    s = services.store
    return sorted(p for area in (s.archive, s.quarantine) for p in area.rglob("*") if p.is_file())


def test_accept_then_rerun_changes_nothing(services: Services):
    blob = good_package("a")
    request = drop(services, "xinghuo/a.zip", blob)
    outcome = ingest(request, services)
    assert outcome is not None and outcome.status == "accepted"
    folder = services.store.data_dir / outcome.location
    assert (folder / "a.zip").read_bytes() == blob
    doc = json.loads((folder / "receipt.json").read_text(encoding="utf-8"))
    assert schema_errors(doc) == [] and doc["source"]["account"] == "xinghuo"
    before = {p: p.stat().st_mtime_ns for p in decided_files(services)}
    assert ingest(request, services) is None  # a redelivered message finds nothing to do
    assert {p: p.stat().st_mtime_ns for p in decided_files(services)} == before
    assert not list(services.store.inbox.rglob("*.zip"))
    assert not any(services.store.claims.iterdir())


def test_crash_after_decision_before_move_is_finished_with_the_same_decision(services: Services, monkeypatch):
    request = drop(services, "b.zip", good_package("b"))
    real_finalize = services.store.finalize
    calls = []

    def crash(claim, document, **_):
        calls.append(document)
        raise OSError("disk went away")

    monkeypatch.setattr(services.store, "finalize", crash)
    with pytest.raises(OSError):
        ingest(request, services)
    assert (services.store.claims / request.version / "package.zip").exists()
    monkeypatch.setattr(services.store, "finalize", real_finalize)
    # the re-run must not re-decide: a different policy now would not change the outcome
    strict = dataclasses.replace(services, policy=dataclasses.replace(services.policy, sha256="f" * 64))
    outcome = ingest(request, strict)
    assert outcome is not None and outcome.receipt_id == calls[0]["receipt_id"]
    doc = json.loads((services.store.data_dir / outcome.location / "receipt.json").read_text("utf-8"))
    assert doc["policy_sha256"] == services.policy.sha256 == calls[0]["policy_sha256"]


def test_crash_between_zip_move_and_claim_release(services: Services, monkeypatch):
    request = drop(services, "c.zip", good_package("c"))
    real_unlink = Path.unlink

    def crash_on_claim_meta(self, missing_ok=False):
        if self.name == "claim.json":
            raise OSError("killed")
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", crash_on_claim_meta)
    with pytest.raises(OSError):
        ingest(request, services)
    monkeypatch.setattr(Path, "unlink", real_unlink)
    outcome = ingest(request, services)  # the re-run finishes: releases the claim
    assert outcome is not None and outcome.status == "accepted"
    assert not any(services.store.claims.iterdir())
    files = [p.name for p in decided_files(services)]
    assert files.count("c.zip") == 1 and "receipt.json" in files


def test_duplicate_bytes_under_two_names(services: Services):
    blob = good_package("dup")
    first = ingest(drop(services, "one.zip", blob), services)
    second = ingest(drop(services, "two.zip", blob), services)
    assert (first.status, second.status) == ("accepted", "duplicate")
    doc = json.loads((services.store.data_dir / second.location / "receipt.json").read_text("utf-8"))
    assert doc["duplicate_of"] == first.receipt_id and schema_errors(doc) == []
    assert "quarantine" in second.location
    # same name, new content: a new version, a new decision
    third = ingest(drop(services, "one.zip", good_package("new")), services)
    assert third.status == "accepted" and third.receipt_id != first.receipt_id


def test_concurrent_workers_decide_once(services: Services):
    request = drop(services, "race.zip", good_package("race"))
    results = []
    barrier = threading.Barrier(4)

    def work():
        barrier.wait()
        try:
            results.append(ingest(request, services))
        except PackageBusy:  # another thread holds the lease: the actor asks again later
            results.append(None)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    decided = [r for r in results if r is not None]
    assert len({r.receipt_id for r in decided}) == 1
    assert [p.name for p in decided_files(services)].count("race.zip") == 1


def test_a_claimer_stalled_while_another_finished_leaves_no_orphan_claim(services: Services, monkeypatch):
    # Claimer B sees the upload, stalls; meanwhile A claims, decides, stores and releases
    # it. B's claim record, written after that, used to stay behind holding nothing.
    request = drop(services, "stall.zip", good_package("stall"))
    inbox_file = services.store.inbox / "stall.zip"
    real_stat = Path.stat
    other: list = []

    def stat(self, *args, **kwargs):
        st = real_stat(self, *args, **kwargs)
        if self == inbox_file and not other:
            other.append("running")
            other[0] = ingest(request, services)  # the other worker, start to finish
        return st

    monkeypatch.setattr(Path, "stat", stat)
    assert services.store.claim(request, lambda: "R20261127-0000000B", services.now()) is None
    monkeypatch.setattr(Path, "stat", real_stat)
    assert other[0] is not None and other[0].status == "accepted"
    assert list((services.store.data_dir / "claimed").iterdir()) == []
    assert services.store.pending_claims() == []


def test_claim_folders_left_without_their_record_are_swept(services: Services):
    # A worker killed between deleting claim.json and removing the folder (another thread
    # of its process hit a kill) left an empty folder nothing ever removed.
    claims = services.store.data_dir / "claimed"
    old = time.time() - 60
    empty, with_tmp, young, holding = (claims / name for name in ("a1", "b2", "c3", "d4"))
    for folder in (empty, with_tmp, young, holding):
        folder.mkdir(parents=True)
    (with_tmp / ".claim.json.123.456.tmp").write_bytes(b"{")
    (holding / "package.zip").write_bytes(b"PK")
    for folder in (empty, with_tmp, holding):
        os.utime(folder, (old, old))
    with structlog.testing.capture_logs() as logs:
        assert services.store.pending_claims() == []
    assert sorted(p.name for p in claims.iterdir()) == ["c3", "d4"]  # young, and a package: kept
    assert [e["event"] for e in logs] == ["store.claim_folder_without_record"]


def test_internal_quarantine_keeps_the_package(services: Services):
    blob = good_package("poison")
    request = drop(services, "poison.zip", blob)
    outcome = quarantine_internal(request, services, reason="ValueError: boom")
    assert outcome.status == "rejected" and "quarantine" in outcome.location
    folder = services.store.data_dir / outcome.location
    doc = json.loads((folder / "errors.json").read_text("utf-8"))
    assert [e["code"] for e in doc["errors"]] == ["INTERNAL"] and schema_errors(doc) == []
    assert (folder / "poison.zip").read_bytes() == blob


def test_internal_after_a_recorded_decision_keeps_the_first_decision(services: Services, monkeypatch):
    request = drop(services, "late.zip", good_package("late"))
    monkeypatch.setattr(services.store, "finalize", lambda c, d, **_: (_ for _ in ()).throw(OSError("x")))
    with pytest.raises(OSError):
        ingest(request, services)
    monkeypatch.undo()
    outcome = quarantine_internal(request, services, reason="OSError")
    assert outcome.status == "accepted" and "archive" in outcome.location


def test_replaced_upload_is_not_claimed_under_the_old_version(services: Services):
    request = drop(services, "r.zip", good_package("old"))
    path = services.store.inbox / "r.zip"
    path.write_bytes(good_package("newer content"))
    later = int(request.stamp) + 10**9
    os.utime(path, ns=(later, later))
    assert ingest(request, services) is None
    assert path.exists()


def test_stuck_requests_requeue_lost_messages_and_orphaned_claims(services: Services, monkeypatch):
    waiting = drop(services, "waiting.zip", good_package("w"))
    never = drop(services, "never.zip", good_package("n"))
    services.ledger.mark_enqueued(waiting.version, 1000.0, 300)
    # an orphaned claim: claimed, no lease, enqueued long ago
    orphan = drop(services, "orphan.zip", good_package("o"))
    claim = services.store.claim(orphan, lambda: "R20261127-00000000", services.now())
    assert claim is not None
    services.ledger.mark_enqueued(orphan.version, 1000.0, 300)
    found = stuck_requests(services, [waiting, never], now=1000.0 + 301)
    assert {r.location for r in found} == {"waiting.zip", "orphan.zip"}
    assert stuck_requests(services, [waiting, never], now=1000.0 + 302) == []


def test_stale_work_dirs_of_dead_processes_are_removed(tmp_path: Path):
    host = socket.gethostname()
    dead, alive, other = tmp_path / f"{host}-999999-v1", tmp_path / f"{host}-{os.getpid()}-v2", tmp_path / "x-1-v3"
    for d in (dead, alive, other):
        d.mkdir()
    removed = scratch.remove_stale_work_dirs(tmp_path, lambda pid: pid == os.getpid())
    assert removed == [dead] and alive.exists() and other.exists()


def test_a_temp_file_left_by_a_killed_claimer_does_not_keep_the_claim(services: Services):
    request = drop(services, "tmpleft.zip", good_package("tmpleft"))
    folder = services.store.claims / request.version
    folder.mkdir(parents=True)
    (folder / ".claim.json.99999.123.tmp").write_bytes(b"{}")  # a claimer killed mid-write
    outcome = ingest(request, services)
    assert outcome is not None and outcome.status == "accepted"
    assert not folder.exists()
