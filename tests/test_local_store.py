"""What only the local store (folders under the data directory) does: the litter of killed
processes in claim folders and scratch. The promises every store keeps (decide once,
versions, crashes, INTERNAL, stuck requests) are tests/test_store_contract.py's."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
import structlog.testing

from pipeline.intake import scratch
from pipeline.intake.deciding import ingest
from pipeline.intake.ledger import RedisLedger
from tests.support.stores import LocalHarness, small_zip


@pytest.fixture
def fs(tmp_path: Path, redis_client) -> LocalHarness:
    return LocalHarness(tmp_path / "data", RedisLedger(redis_client))


def test_claim_folders_left_without_their_record_are_swept(fs: LocalHarness):
    # A worker killed between deleting claim.json and removing the folder (another thread
    # of its process hit a kill) left an empty folder nothing ever removed.
    claims = fs.store.claims
    old = time.time() - 60
    empty, with_tmp, young, holding = (claims / name for name in ("a1", "b2", "c3", "d4"))
    for folder in (empty, with_tmp, young, holding):
        folder.mkdir(parents=True)
    (with_tmp / ".claim.json.123.456.tmp").write_bytes(b"{")
    (holding / "package.zip").write_bytes(b"PK")
    for folder in (empty, with_tmp, holding):
        os.utime(folder, (old, old))
    with structlog.testing.capture_logs() as logs:
        assert fs.store.pending_claims() == []
    assert sorted(p.name for p in claims.iterdir()) == ["c3", "d4"]  # young, and a package: kept
    assert [e["event"] for e in logs] == ["store.claim_folder_without_record"]


def test_a_temp_file_left_by_a_killed_claimer_does_not_keep_the_claim(fs: LocalHarness):
    request = fs.drop("tmpleft.zip", small_zip("tmpleft"))
    folder = fs.store.claims / request.version
    folder.mkdir(parents=True)
    (folder / ".claim.json.99999.123.tmp").write_bytes(b"{}")  # a claimer killed mid-write
    outcome = ingest(request, fs.services)
    assert outcome is not None and outcome.status == "accepted"
    assert not folder.exists() and fs.claims_are_empty()


def test_stale_work_dirs_of_dead_processes_are_removed(tmp_path: Path):
    host = socket.gethostname()
    dead, alive, other = tmp_path / f"{host}-999999-v1", tmp_path / f"{host}-{os.getpid()}-v2", tmp_path / "x-1-v3"
    for d in (dead, alive, other):
        d.mkdir()
    removed = scratch.remove_stale_work_dirs(tmp_path, lambda pid: pid == os.getpid())
    assert removed == [dead] and alive.exists() and other.exists()
