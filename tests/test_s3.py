"""What only the S3 store does, against moto's server mode through the minio SDK (real
Redis for the ledger): the bucket and key layout, ETags (multipart, If-Match), versioned
buckets, the copy-verify-delete steps of its move, streaming downloads, its errors and
settings; the bucket watcher; `pipeline run` with S3 storage end to end. The promises every
store keeps (decide once, versions, crashes, INTERNAL, stuck requests) are
tests/test_store_contract.py's."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil
import pytest
import structlog
import urllib3
from minio import Minio

from pipeline.app.settings import SettingsError, load_settings
from pipeline.check.documents import schema_errors
from pipeline.intake.deciding import ingest
from pipeline.intake.faults import FaultPoints, InjectedFault
from pipeline.intake.ledger import MemoryLedger, RedisLedger
from pipeline.intake.s3_store import CHUNK_SIZE, S3Store, object_stamp, parse_inbox_key, stamp_etag
from pipeline.app.compose import Composition
from pipeline.app.watch import bucket_watcher
from pipeline.intake.handover import Handover
from pipeline.intake.bucket_watch import BucketWatcher
from pipeline.intake.uploads import IngestRequest
from pipeline.intake.store import StoreError
from pipeline.app.redis_server import free_loopback_port
from tests.support.waiting import wait_until
from tests.support.s3server import MotoS3, keys, put, read
from tests.support.stores import RAR, S3Harness, small_zip


def make_zip(tag: str, size: int = 0) -> bytes:
    """A ZIP the reader accepts (content checks are off in these tests); ``size`` pads it."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("report/readme.txt", f"package {tag}".encode())
        if size:
            zf.writestr("report/padding.bin", os.urandom(size))
    return buf.getvalue()


@pytest.fixture
def s3(tmp_path: Path, moto_s3: MotoS3, redis_client) -> S3Harness:
    return S3Harness(tmp_path / "data", moto_s3, RedisLedger(redis_client))


# -- the store -------------------------------------------------------------------------------

def test_decisions_are_stored_under_month_and_receipt_id_with_the_sha256_of_the_zip(s3: S3Harness):
    store, services = s3.store, s3.services
    accepted = ingest(s3.drop("xinghuo/星火 2026.zip", small_zip("a")), services)
    rejected = ingest(s3.drop("wrong.zip", RAR), services)
    assert accepted is not None and rejected is not None
    for outcome, area, doc_name, zip_name in ((accepted, "archive", "receipt.json", "星火 2026.zip"),
                                              (rejected, "quarantine", "errors.json", "wrong.zip")):
        bucket = getattr(store, f"{area}_bucket")
        folder = outcome.location.split("/", 1)[1]
        # <bucket>/<YYYY-MM>/<receipt id>/
        assert outcome.location == f"{bucket}/{outcome.receipt_id[1:5]}-{outcome.receipt_id[5:7]}/{outcome.receipt_id}"
        assert s3.bucket_keys(area) == [f"{folder}/{doc_name}", f"{folder}/{zip_name}"]
        doc = json.loads(read(store.client, bucket, f"{folder}/{doc_name}"))
        copy = store.client.stat_object(bucket, f"{folder}/{zip_name}")
        assert copy.metadata["x-amz-meta-sha256"] == doc["package"]["sha256"]
        assert copy.content_type == "application/zip"


def test_a_verified_copy_is_not_made_again_when_a_move_is_finished(s3: S3Harness, tmp_path: Path, monkeypatch):
    store = s3.store
    request = s3.drop("acme/crash.zip", small_zip("crash"))
    real_copy, copies = store.client.copy_object, []

    def counting_copy(bucket, key, *args, **kwargs):
        copies.append(key)
        return real_copy(bucket, key, *args, **kwargs)

    monkeypatch.setattr(store.client, "copy_object", counting_copy)
    crashing = dataclasses.replace(s3.services, faults=FaultPoints("before_release=raise-once", tmp_path / "faults"))
    with pytest.raises(InjectedFault):  # copied and verified, not yet deleted from the inbox
        ingest(request, crashing)
    assert s3.bucket_keys("inbox") == ["inbox/acme/crash.zip"] and len(copies) == 1
    outcome = ingest(request, crashing)  # the redelivered message finishes the move
    assert outcome is not None and outcome.status == "accepted"
    assert len(copies) == 1 and s3.bucket_keys("inbox") == []


def test_crash_between_delete_and_dropping_the_claim_is_finished(s3: S3Harness, monkeypatch):
    request = s3.drop("late.zip", small_zip("late"))
    ledger = s3.ledger
    real_drop = ledger.drop_claim
    monkeypatch.setattr(ledger, "drop_claim", lambda v: (_ for _ in ()).throw(ConnectionError("redis blip")))
    with pytest.raises(ConnectionError):
        ingest(request, s3.services)
    monkeypatch.setattr(ledger, "drop_claim", real_drop)
    assert s3.bucket_keys("inbox") == [] and list(ledger.claim_records()) == [request.version]
    outcome = ingest(request, s3.services)  # inbox gone, copy verifies: only the record is dropped
    assert outcome is not None and outcome.status == "accepted"
    assert ledger.claim_records() == {} and len(s3.bucket_keys("archive")) == 2


def test_a_claimed_object_overwritten_in_place_is_refused_by_if_match(s3: S3Harness):
    store = s3.store
    old = s3.drop("swap.zip", small_zip("before"))
    claim = store.claim(old, lambda: "R20261127-00000001", s3.services.now())
    assert claim is not None and store.holds_package(claim)
    s3.replace("swap.zip", small_zip("after"))  # the uploader overwrites it: same size, new ETag
    assert not store.holds_package(claim)
    with pytest.raises(StoreError, match="no longer in the inbox"):  # If-Match refuses the new bytes
        store.local_package(claim, s3.services.work_dir / "swap")


def test_a_versioned_inbox_stores_the_claimed_version_even_if_replaced_meanwhile(s3: S3Harness, tmp_path: Path):
    from minio.commonconfig import ENABLED
    from minio.versioningconfig import VersioningConfig

    store = s3.store
    store.client.set_bucket_versioning(store.inbox_bucket, VersioningConfig(ENABLED))
    old_bytes, new_bytes = small_zip("version 1"), small_zip("version 2")
    request = s3.drop("v.zip", old_bytes)
    crashing = dataclasses.replace(s3.services, faults=FaultPoints("after_decision=raise-once", tmp_path / "faults"))
    with pytest.raises(InjectedFault):
        ingest(request, crashing)
    s3.replace("v.zip", new_bytes)  # the uploader overwrites it after the decision
    outcome = ingest(request, crashing)
    assert outcome is not None and outcome.status == "accepted"
    folder = outcome.location.split("/", 1)[1]
    assert read(store.client, store.archive_bucket, f"{folder}/v.zip") == old_bytes
    # only the claimed version was deleted: the new upload is current and untouched
    versions = list(store.client.list_objects(store.inbox_bucket, prefix="inbox/", include_version=True))
    assert len(versions) == 1 and read(store.client, store.inbox_bucket, "inbox/v.zip") == new_bytes
    assert s3.ledger.claim_records() == {}


def test_download_streams_in_bounded_chunks_and_accepts_multipart_etags(s3: S3Harness, monkeypatch):
    store = s3.store
    blob = make_zip("big", size=12 * CHUNK_SIZE)
    request = s3.drop("big.zip", blob, part_size=5 * 1024 * 1024)
    assert stamp_etag(request.stamp).endswith("-3")  # a multipart ETag is not an MD5 of the bytes
    chunks: list[int] = []
    real_get = store.client.get_object

    def recording_get(*args, **kwargs):
        response = real_get(*args, **kwargs)
        real_stream = response.stream

        def stream(amt=2 ** 16, decode_content=None):
            for chunk in real_stream(amt, decode_content=decode_content):
                chunks.append(len(chunk))
                yield chunk
        response.stream = stream
        return response

    monkeypatch.setattr(store.client, "get_object", recording_get)
    claim = store.claim(request, lambda: "R20261127-00000002", s3.services.now())
    path = store.local_package(claim, s3.services.work_dir / "big")
    assert path.read_bytes() == blob
    assert max(chunks) <= CHUNK_SIZE and len(chunks) >= 12


def test_s3_errors_raise_and_a_missing_object_does_not(moto_s3: MotoS3):
    buckets = moto_s3.new_buckets(create=False)
    ledger, now = MemoryLedger(), datetime.now(timezone.utc)
    missing = IngestRequest("inbox/none.zip", 10, "0" * 32)
    live = S3Store(moto_s3.client(retries=False), ledger, inbox_bucket=buckets.inbox,
                   archive_bucket=buckets.archive, quarantine_bucket=buckets.quarantine)
    live.ensure_buckets()
    assert live.claim(missing, lambda: "R20261127-00000003", now) is None  # an answer, not an error
    refused = Minio(f"127.0.0.1:{free_loopback_port()}", "k", "s", secure=False, region="us-east-1",
                    http_client=urllib3.PoolManager(retries=False))
    with pytest.raises(urllib3.exceptions.HTTPError):  # connection refused: the actor retries
        S3Store(refused, ledger, inbox_bucket=buckets.inbox).claim(missing, lambda: "R20261127-00000004", now)
    no_bucket = S3Store(moto_s3.client(retries=False), ledger, inbox_bucket="t0-no-such-bucket")
    with pytest.raises(StoreError, match="does not exist"):  # misconfiguration is not "no package"
        no_bucket.claim(missing, lambda: "R20261127-00000005", now)


# -- the ledger's claim records ------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["redis", "memory"])
def test_claim_records_are_set_if_absent(kind: str, redis_client):
    ledger = RedisLedger(redis_client) if kind == "redis" else MemoryLedger()
    first, second = {"receipt_id": "R1", "n": [1]}, {"receipt_id": "R2"}
    assert ledger.claim_record("v1") is None and ledger.claim_records() == {}
    assert ledger.record_claim("v1", first) == first
    assert ledger.record_claim("v1", second) == first  # the first claimer's record stands
    ledger.record_claim("v2", second)
    assert ledger.claim_records() == {"v1": first, "v2": second}
    ledger.drop_claim("v1")
    ledger.drop_claim("v1")  # twice is fine
    assert ledger.claim_record("v1") is None and ledger.claim_records() == {"v2": second}


# -- settings ----------------------------------------------------------------------------------

def test_s3_settings_are_validated():
    base = {"PIPELINE_STORAGE": "s3", "S3_ENDPOINT": "minio.internal:9000", "S3_ACCESS_KEY": "k",
            "S3_SECRET_KEY": "very-secret"}
    s = load_settings(env=base)
    assert (s.storage, s.s3_secure, s.s3_region) == ("s3", True, None)
    assert (s.s3_inbox_bucket, s.s3_archive_bucket, s.s3_quarantine_bucket) == ("inbox", "archive", "quarantine")
    assert "very-secret" not in repr(s)
    assert load_settings(env={**base, "S3_SECURE": "0"}).s3_secure is False
    assert load_settings(env={}).storage == "fs"
    for env, message in [
        ({"PIPELINE_STORAGE": "ftp"}, "PIPELINE_STORAGE"),
        ({**base, "S3_ENDPOINT": ""}, "S3_ENDPOINT"),
        ({**base, "S3_ENDPOINT": "http://minio:9000"}, "without a scheme"),
        ({**base, "S3_ENDPOINT": "minio:99999"}, "host:port"),
        ({**base, "S3_SECURE": "maybe"}, "S3_SECURE"),
        ({**base, "S3_SECRET_KEY": ""}, "S3_SECRET_KEY"),
        ({**base, "S3_ARCHIVE_BUCKET": "Archive_2026"}, "S3_ARCHIVE_BUCKET"),
        ({**base, "S3_QUARANTINE_BUCKET": "inbox"}, "must differ"),
    ]:
        with pytest.raises(SettingsError, match=message):
            load_settings(env=env)


# -- the bucket watcher ------------------------------------------------------------------------

def test_inbox_key_rule():
    assert parse_inbox_key("inbox/a.zip").account == ""
    assert parse_inbox_key("inbox/xinghuo/材料 1.zip").account == "xinghuo"
    # a ZIP in a "subfolder" is taken like one at account level; other deeper keys are not (issue 15)
    assert parse_inbox_key("inbox/x/y/deep.zip").in_scope is True
    assert parse_inbox_key("inbox/x/y/deep.zip").account == "x"
    assert parse_inbox_key("inbox/x/y/培训方案.json").in_scope is False
    for ignored in ("outbox/a.zip", "inbox/", "inbox/acct/", "inbox//a.zip", "inbox/a.zip.part",
                    "inbox/acct/a.filepart", "inbox/a.tmp", "inbox/.a.zip", "inbox/~a.zip",
                    "inbox/.trash/a.zip", "inboxa.zip"):
        assert parse_inbox_key(ignored) is None, ignored


def test_watcher_hands_over_each_version_once_and_ignores_in_progress_names(moto_s3: MotoS3):
    b = moto_s3.new_buckets()
    client = moto_s3.client()
    for key in ("inbox/a.zip", "inbox/acct/b.zip", "inbox/c.zip.part", "inbox/acct/d.zip.filepart",
                "inbox/.hidden.zip", "inbox/~lock.zip", "inbox/x.tmp", "inbox/.trash/e.zip",
                "inbox/acct/deep/f.zip", "inbox/acct/folder/f.json", "other/g.zip"):
        put(client, b.inbox, key, key.encode())
    handed: list[IngestRequest] = []
    with structlog.testing.capture_logs() as logs:
        watcher = BucketWatcher(client, b.inbox, "inbox/", handed.append, scan_interval=60,
                                use_notifications=False, logger=structlog.get_logger())
        watcher.scan()
        watcher.scan()
        assert sorted(r.location for r in handed) == ["inbox/a.zip", "inbox/acct/b.zip", "inbox/acct/deep/f.zip"]
        a = next(r for r in handed if r.location == "inbox/a.zip")
        assert (a.size, a.stamp) == (len(b"inbox/a.zip"), object_stamp(client.stat_object(b.inbox, "inbox/a.zip")))
        put(client, b.inbox, "inbox/a.zip", b"a new upload under the same name")
        watcher.scan()
        watcher.scan()
    assert [r.location for r in handed].count("inbox/a.zip") == 2 and len(handed) == 4
    assert handed[-1].version != a.version
    # a folder's other keys are one upload, waiting to be packed (issue 15): named once, never handed over
    waiting = [e for e in logs if e["event"] == "watcher.upload_waiting"]
    assert [(e["relative"], e["kind"], e["files"]) for e in waiting] == [("acct/folder", "folder", 1)]


def test_a_failed_hand_over_is_retried_at_the_next_scan(moto_s3: MotoS3):
    b = moto_s3.new_buckets()
    client = moto_s3.client()
    put(client, b.inbox, "inbox/retry.zip", b"x")
    calls: list[str] = []

    def flaky(request: IngestRequest) -> None:
        calls.append(request.location)
        if len(calls) == 1:
            raise ConnectionError("redis away")

    watcher = BucketWatcher(client, b.inbox, "inbox/", flaky, use_notifications=False)
    watcher.scan()
    watcher.scan()
    watcher.scan()
    assert calls == ["inbox/retry.zip", "inbox/retry.zip"]


def test_reconcile_finds_objects_uploaded_while_stopped(moto_s3: MotoS3):
    b = moto_s3.new_buckets()
    client = moto_s3.client()
    handed: list[str] = []
    watcher = BucketWatcher(client, b.inbox, "inbox/", lambda r: handed.append(r.location),
                            scan_interval=0.2, use_notifications=False)
    watcher.start()
    try:
        put(client, b.inbox, "inbox/live.zip", b"live")
        wait_until(lambda: "inbox/live.zip" in handed, 10, message="periodic scan")
    finally:
        watcher.stop()
    put(client, b.inbox, "inbox/while-down.zip", b"down")
    time.sleep(0.5)
    assert "inbox/while-down.zip" not in handed
    again = BucketWatcher(client, b.inbox, "inbox/", lambda r: handed.append(r.location),
                          scan_interval=60, use_notifications=False)
    again.start()  # the scan at start reconciles
    again.stop()
    assert handed.count("inbox/while-down.zip") == 1


def test_notification_events_are_hints_and_moto_falls_back_to_scans(moto_s3: MotoS3):
    b = moto_s3.new_buckets()
    client = moto_s3.client()
    put(client, b.inbox, "inbox/acct/材料 1+2.zip", b"zip")
    handed: list[IngestRequest] = []
    watcher = BucketWatcher(client, b.inbox, "inbox/", handed.append, scan_interval=0.3,
                            use_notifications=True)
    # A MinIO event record (keys URL-encoded); reads and removals are ignored.
    record = {"eventName": "s3:ObjectCreated:Put",
              "s3": {"bucket": {"name": b.inbox},
                     "object": {"key": "inbox%2Facct%2F%E6%9D%90%E6%96%99+1%2B2.zip", "eTag": "x", "size": 3}}}
    assert watcher.handle_event({**record, "eventName": "s3:ObjectAccessed:Get"}) is False
    assert watcher.handle_event({**record, "s3": {**record["s3"], "object": {"key": "inbox%2Fgone.zip"}}}) is False
    assert watcher.handle_event(record) is True and watcher.handle_event(record) is False
    assert [r.location for r in handed] == ["inbox/acct/材料 1+2.zip"]
    # moto has no listen extension: detected once, then the scans alone find uploads
    with structlog.testing.capture_logs() as logs:
        watcher = BucketWatcher(client, b.inbox, "inbox/", handed.append, scan_interval=0.3,
                                use_notifications=True, logger=structlog.get_logger())
        watcher.start()
        try:
            wait_until(lambda: watcher.notifications_supported is False, 10, message="fallback")
            put(client, b.inbox, "inbox/after.zip", b"after")
            wait_until(lambda: any(r.location == "inbox/after.zip" for r in handed), 10, message="scan")
        finally:
            watcher.stop()
    assert [e["event"] for e in logs].count("watcher.notifications_unsupported") == 1


class FakeListenStream:
    """What MinIO's listen API streams: JSON lines (blank keep-alives between), until the
    connection ends (``block=False``) or is shut down (``block=True``)."""

    def __init__(self, lines: list[bytes], block: bool) -> None:
        self.lines, self.block, self.closed = list(lines), block, False
        self.headers = {"content-type": "text/event-stream"}
        self._gate = threading.Event()

    def readline(self) -> bytes:
        if self.lines:
            return self.lines.pop(0)
        if self.block:
            self._gate.wait()
            raise OSError("connection shut down")
        self.closed = True
        return b""

    def shutdown(self) -> None:
        self._gate.set()

    def close(self) -> None:
        self.closed = True
        self._gate.set()

    def release_conn(self) -> None:
        pass


def test_notification_stream_events_and_reconnects_trigger_a_reconcile(moto_s3: MotoS3, monkeypatch):
    from minio.datatypes import EventIterable

    b = moto_s3.new_buckets()
    client = moto_s3.client()
    put(client, b.inbox, "inbox/acct/evented.zip", b"evented")
    event = {"Records": [{"eventName": "s3:ObjectCreated:Put",
                          "s3": {"bucket": {"name": b.inbox}, "object": {"key": "inbox%2Facct%2Fevented.zip"}}}]}
    streams = [FakeListenStream([b" \n", json.dumps(event).encode() + b"\n"], block=False),
               FakeListenStream([b" \n"], block=True)]
    asked: list[tuple[str, ...]] = []

    def listen(bucket, prefix="", suffix="", events=()):
        asked.append(tuple(events))
        return EventIterable(lambda: streams.pop(0))

    monkeypatch.setattr(client, "listen_bucket_notification", listen)
    handed: list[str] = []
    scans: list[float] = []
    watcher = BucketWatcher(client, b.inbox, "inbox/", lambda r: handed.append(r.location),
                            scan_interval=60, use_notifications=True)
    # Scans only counted here, so the hand-over below is the event's.
    monkeypatch.setattr(watcher, "scan", lambda: scans.append(time.monotonic()) or [])
    watcher.start()
    threads = list(watcher._threads)
    try:
        wait_until(lambda: not streams and watcher.notifications_connected, 10, message="reconnect")
        # one scan at start, one after each of the two connections (events in between are lost)
        wait_until(lambda: len(scans) >= 3, 10, message="a scan after each connection")
    finally:
        watcher.stop()
    assert asked == [("s3:ObjectCreated:*",)]  # created events only: our own reads do not echo
    assert handed == ["inbox/acct/evented.zip"] and watcher.notifications_supported is True
    assert not any(t.is_alive() for t in threads)  # stop() unblocks the stream being read


def test_bucket_watchers_enqueue_each_version_once_across_watchers(s3: S3Harness):
    composition = s3.composition
    fast = Composition(dataclasses.replace(composition.settings, scan_interval=0.2), ledger=s3.ledger)
    first = s3.drop("one.zip", small_zip("one"))
    sent: list[dict[str, Any]] = []
    lock = threading.Lock()

    def send(message: dict[str, Any]) -> None:
        with lock:
            sent.append(message)

    log = structlog.get_logger()
    watchers = [bucket_watcher(fast, log, Handover(fast.services, send, log)) for _ in range(2)]
    for w in watchers:
        w.start()
    try:
        s3.drop("acct/two.zip", small_zip("two"))
        wait_until(lambda: len(sent) >= 2, 10, message="two enqueues")
        time.sleep(1.0)  # several more scans by both watchers
    finally:
        for w in watchers:
            w.stop()
    assert sorted(m["location"] for m in sent) == ["inbox/acct/two.zip", "inbox/one.zip"]
    assert first.to_json() in sent


# -- end to end ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_pipeline_run_with_s3_storage(tmp_path: Path, moto_s3: MotoS3):
    from tests.support.running import good_package

    b = moto_s3.new_buckets(create=False)
    client = moto_s3.client()
    log_path = tmp_path / "pipeline.log"
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(moto_s3.env(b), PIPELINE_DATA_DIR=str(tmp_path / "data"), PIPELINE_SCAN_INTERVAL="1",
               PIPELINE_WORKER_PROCESSES="1", PIPELINE_WORKER_THREADS="2", PIPELINE_LOG_FORMAT="json",
               PIPELINE_MIN_BACKOFF_MS="200")
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run"], env=env,
                            stdout=subprocess.DEVNULL, stderr=open(log_path, "ab"))

    def events() -> list[dict[str, Any]]:
        out = []
        for line in log_path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    try:
        wait_until(lambda: any(e.get("event") == "watcher.started" for e in events()), 60,
                   message="watcher start")
        good = good_package("s3-e2e")
        put(client, b.inbox, "inbox/xinghuo/星火20261120.zip", good)
        put(client, b.inbox, "inbox/wrong.zip", RAR)
        put(client, b.inbox, "inbox/uploading.zip.part", b"PK\x03\x04 half")
        def decision_keys(bucket: str) -> list[str]:  # the archive bucket also holds the journal
            return [k for k in keys(client, bucket) if not k.startswith("journal/")]

        wait_until(lambda: len(decision_keys(b.archive)) == 2 and len(decision_keys(b.quarantine)) == 2, 90,
                   message="two decisions in the buckets")
        wait_until(lambda: keys(client, b.inbox) == ["inbox/uploading.zip.part"], 30, message="inbox emptied")
        time.sleep(3)  # more scans list the same objects: nothing is decided twice
        archive, quarantine = decision_keys(b.archive), decision_keys(b.quarantine)
        assert [k.rsplit("/", 1)[1] for k in archive] == ["receipt.json", "星火20261120.zip"]
        assert [k.rsplit("/", 1)[1] for k in quarantine] == ["errors.json", "wrong.zip"]
        assert read(client, b.archive, archive[1]) == good
        doc = json.loads(read(client, b.archive, archive[0]))
        assert doc["status"] == "accepted" and schema_errors(doc) == []
        assert doc["source"] == {"kind": "s3", "location": f"{b.inbox}/inbox/xinghuo/星火20261120.zip",
                                 "account": "xinghuo"}
        errors = json.loads(read(client, b.quarantine, quarantine[0]))
        assert [e["code"] for e in errors["errors"]] == ["PKG_NOT_ZIP"]
        decided = [e for e in events() if e.get("event") == "package.decided"]
        assert sorted(e["status"] for e in decided) == ["accepted", "rejected"]
        assert any(e.get("event") == "watcher.notifications_unsupported" for e in events())
        # both receipts mailed (to the outbox): the journal keeps how each mail ended,
        # and no announcement is left to recover; the epoch of the Redis it initialised
        receipt_ids = sorted(e["receipt_id"] for e in decided)
        wait_until(lambda: [k for k in keys(client, b.archive) if k.startswith("journal/")]
                   == [*(f"journal/mail/{rid}.json" for rid in receipt_ids), "journal/redis-epoch"], 30,
                   message="mails settled")
        assert [e["lost"] for e in events() if e.get("event") == "redis.restored"] == [False]
        assert {json.loads(read(client, b.archive, f"journal/mail/{rid}.json"))["state"]
                for rid in receipt_ids} == {"sent"}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
            proc.kill()

