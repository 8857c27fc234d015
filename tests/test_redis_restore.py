"""A Redis that came back empty is restored from the store (pipeline/ops/recovery.py):
duplicate detection comes back from the stored decisions (the decisions themselves are
in the catalogue database, which Redis's loss does not touch), a loss
is told from a first start by the journal's epoch, and no acceptance is recorded until
the restore is done. The whole pipeline under a lost Redis is tests/test_faults.py's."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis
import structlog.testing

from pipeline.intake.deciding import PackageBusy, ingest
from pipeline.intake.ledger import RedisLedger
from pipeline.ops.recovery import EPOCH_RECORD, RedisRestore
from tests.support.stores import LocalHarness, small_zip


@pytest.fixture
def fs(tmp_path: Path, redis_client: redis.Redis) -> LocalHarness:
    return LocalHarness(tmp_path / "data", RedisLedger(redis_client))


def restorer(fs: LocalHarness) -> RedisRestore:
    restore = fs.composition.redis_restore()
    assert restore is not None
    return restore


def test_a_first_start_initialises_redis_quietly_once(fs: LocalHarness, redis_client: redis.Redis):
    redis_client.delete("pipeline:epoch")  # a Redis nobody used yet
    ledger = fs.composition.ledger
    assert isinstance(ledger, RedisLedger)
    with structlog.testing.capture_logs() as logs:
        facts = restorer(fs).ensure()
        assert restorer(fs).ensure() is None  # the epoch is set: nothing more to do
    assert facts is not None and facts["lost"] is False and facts["documents"] == 0
    assert [(e["event"], e["log_level"]) for e in logs] == [("redis.initialising", "info"),
                                                            ("redis.restored", "info")]
    record = fs.store.get_record(EPOCH_RECORD)
    assert record is not None and record.data.decode() == ledger.epoch() == facts["epoch"]


def test_an_emptied_redis_is_restored_and_accepted_bytes_stay_duplicates(fs: LocalHarness,
                                                                         redis_client: redis.Redis):
    services = fs.services
    first = ingest(fs.drop("a.zip", small_zip("same")), services)
    again = ingest(fs.drop("b.zip", small_zip("same")), services)
    other = ingest(fs.drop("c.zip", small_zip("other")), services)
    assert first and again and other
    assert [first.status, again.status, other.status] == ["accepted", "duplicate", "accepted"]
    restorer(fs).ensure()  # (the fixture's Redis had an epoch: this first restore wrote the journal's)
    fs.store.put_record(EPOCH_RECORD, b"an epoch of a Redis before")

    redis_client.flushdb()  # Redis lost everything: the epoch, the acceptances, the queues
    third = fs.drop("d.zip", small_zip("same"))
    with structlog.testing.capture_logs() as logs:
        with pytest.raises(PackageBusy):  # not accepted again while nobody restored Redis
            ingest(third, services)
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["package.waiting_for_restore"]
    assert [c.version for c in fs.store.pending_claims()] == [third.version]  # kept, to be decided later

    with structlog.testing.capture_logs() as logs:
        facts = restorer(fs).ensure()
    assert facts is not None
    assert (facts["lost"], facts["documents"], facts["acceptances"]) == (True, 3, 2)
    lost = [e for e in logs if e["event"] == "redis.data_lost"]
    assert len(lost) == 1 and lost[0]["log_level"] == "error" and lost[0]["last_epoch"] == "an epoch of a Redis before"
    assert [e["log_level"] for e in logs if e["event"] == "redis.restored"] == ["error"]
    # the earliest acceptance stands for the bytes
    outcome = ingest(third, services)
    assert outcome is not None and outcome.status == "duplicate"
    assert fs.store.read_document(outcome.location)["duplicate_of"] == first.receipt_id


def test_one_restorer_at_a_time(fs: LocalHarness, redis_client: redis.Redis):
    redis_client.delete("pipeline:epoch")
    living = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        redis_client.set("pipeline:lease:restore", f"{socket.gethostname()}-{living.pid}-a1b2c3d4", ex=60)
        assert restorer(fs).ensure() is None  # another process restores: this one goes on
        assert redis_client.get("pipeline:epoch") is None
        redis_client.set("pipeline:lease:restore", "another-host-4242-a1b2c3d4", ex=60)
        assert restorer(fs).ensure() is None  # a process of another host: its lease is waited for
    finally:
        living.kill()
        living.wait()
    redis_client.delete("pipeline:lease:restore")
    assert restorer(fs).ensure() is not None and redis_client.get("pipeline:epoch")
    assert redis_client.get("pipeline:lease:restore") is None  # let go at the end


def test_a_restorer_gone_without_letting_go_is_taken_over_at_once(fs: LocalHarness, redis_client: redis.Redis):
    """A watcher stopped together with Redis mid-restore leaves its lease in Redis's saved
    data; every acceptance waits for the restore, so the next start must not wait for the
    lease to expire (found by CI: three waiting packages held back for 34 s)."""
    redis_client.delete("pipeline:epoch")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    redis_client.set("pipeline:lease:restore", f"{socket.gethostname()}-{gone.pid}-a1b2c3d4", ex=60)
    facts = restorer(fs).ensure()
    assert facts is not None and redis_client.get("pipeline:epoch") == facts["epoch"]
    assert redis_client.get("pipeline:lease:restore") is None
