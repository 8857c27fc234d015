"""Issue 15 on the S3 inbox: a folder uploaded key by key and loose objects each get one
answer, like the inbox folder's (tests/test_folder_uploads.py). Against moto's server
through the minio SDK, real Redis for the ledger: the sorting of a listing, the packing
(bytes kept, verified, sources deleted only after the PUT), its crash safety (a crash
between the PUT and the deletes, the lock of a dead watcher, the ledger's record lost),
what the operator sees, and `pipeline run` with S3 storage end to end."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any, Iterator

import psutil
import pytest
import structlog

from pipeline.app.compose import Composition
from pipeline.app.watch import bucket_watcher
from pipeline.intake.bucket_uploads import LOCK_SECONDS, BucketPacker, sort_listing, sniff_object
from pipeline.intake.deciding import ingest
from pipeline.intake.faults import FaultPoints
from pipeline.intake.handover import Handover
from pipeline.intake.inventory import inventory_of
from pipeline.intake.ledger import RedisLedger
from pipeline.intake.s3_store import PACKED_META
from pipeline.intake.uploads import IngestRequest
from tests.support.s3server import MotoS3, keys, put, read
from tests.support.stores import RAR, S3Harness, small_zip
from tests.support.waiting import wait_until

FOLDER = "星火职业培训学校20261120"
FOLDER_FILES = {"培训方案.json": b'{"plan": 1}', "理论/第1次课/课堂.jpg": b"\xff\xd8" + os.urandom(3000),
                "理论/第1次课/签到表.json": "[]".encode(), ".DS_Store": b"\0\0\0\1Bud1"}
LOOSE_FILES = {"照片1.jpg": b"\xff\xd8" + os.urandom(500), "承诺书.json": b"{}", "视频.mp4": os.urandom(2000)}


@pytest.fixture
def s3(tmp_path: Path, moto_s3: MotoS3, redis_client) -> S3Harness:
    return S3Harness(tmp_path / "data", moto_s3, RedisLedger(redis_client))


def members(blob: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
        return {i.filename: zf.read(i) for i in zf.infolist()}


def fast(s3: S3Harness, **changes: Any) -> Composition:
    settings = dataclasses.replace(s3.composition.settings, folder_quiet_period=0.3, scan_interval=60, **changes)
    return Composition(settings, ledger=s3.ledger, checks=())


def upload_folder_and_loose_files(s3: S3Harness) -> None:
    for name, data in FOLDER_FILES.items():
        s3.drop(f"xinghuo/{FOLDER}/{name}", data)
    for name, data in LOOSE_FILES.items():
        s3.drop(f"lanxiang/{name}", data)
    s3.drop("lanxiang/另一份.rar", RAR)


def scan_until(watcher: Any, done: Any, message: str) -> None:
    def step() -> bool:
        watcher.scan()
        return bool(done())
    wait_until(step, 15, interval=0.2, message=message)


# -- sorting a listing --------------------------------------------------------------------------

def test_a_listing_is_sorted_into_single_uploads_folders_and_loose_files(s3: S3Harness):
    client, bucket = s3.store.client, s3.store.inbox_bucket
    for name, data in {"top.zip": b"PK", "xinghuo/a.zip": b"PK", "xinghuo/材料": small_zip("named-oddly"),
                       "xinghuo/照片.jpg": b"\xff\xd8", "xinghuo/分卷.z01": b"x",
                       "xinghuo/补交/b.zip": b"PK", "xinghuo/补交/__MACOSX/._b.zip": b"x",
                       "xinghuo/补交/Thumbs.db": b"x",
                       f"xinghuo/{FOLDER}/a.json": b"{}", f"xinghuo/{FOLDER}/sub/c.zip": b"PK",
                       "lanxiang/夹/x.jpg": b"x", "lanxiang/夹/y.mp4.filepart": b"x",
                       "lanxiang/z.jpg": b"x", "lanxiang/w.zip.part": b"PK",
                       ".hidden/q.jpg": b"x", "xinghuo/.trash/q.jpg": b"x"}.items():
        s3.drop(name, data)
    objects = list(client.list_objects(bucket, prefix="inbox/", recursive=True))
    listing = sort_listing(objects, "inbox/", time.time(), 1800.0, lambda o: sniff_object(client, bucket, o))
    assert [o.object_name for o in listing.candidates] == [
        "inbox/top.zip", "inbox/xinghuo/a.zip", "inbox/xinghuo/分卷.z01", "inbox/xinghuo/材料",
        "inbox/xinghuo/补交/b.zip"]  # archives by name or first bytes, and the ZIPs of a ZIP-only prefix
    groups = {g.relative: g for g in listing.groups}
    assert sorted(groups) == ["lanxiang", "lanxiang/夹", "xinghuo", f"xinghuo/{FOLDER}"]
    assert [m.relative for m in groups[f"xinghuo/{FOLDER}"].members] == ["a.json", "sub/c.zip"]
    assert groups["lanxiang/夹"].busy and not groups[f"xinghuo/{FOLDER}"].busy  # an upload under way inside
    assert [m.relative for m in groups["xinghuo"].members] == ["照片.jpg"]
    assert groups["xinghuo"].kind == "files" and groups["xinghuo"].account == "xinghuo"
    assert groups["lanxiang"].busy  # loose files beside an upload in progress wait for it
    # an hour later: the in-progress names are older than the stale-upload timeout; at account
    # level such a name is an unfinished upload, inside a folder it is one of its files
    old = sort_listing(objects, "inbox/", time.time() + 3600, 1800.0)
    assert [(rel, account) for rel, account, _ in old.unfinished] == [("lanxiang/w.zip.part", "lanxiang")]
    assert not [g for g in old.groups if g.busy]
    assert [m.relative for m in {g.relative: g for g in old.groups}["lanxiang/夹"].members] == [
        "x.jpg", "y.mp4.filepart"]


# -- packing ------------------------------------------------------------------------------------

def test_a_folder_and_loose_objects_are_packed_and_decided_once_each(s3: S3Harness):
    upload_folder_and_loose_files(s3)
    composition = fast(s3)
    sent: list[dict[str, Any]] = []
    log = structlog.get_logger()
    with structlog.testing.capture_logs() as logs:
        watcher = bucket_watcher(composition, log, Handover(composition.services, sent.append, log))
        scan_until(watcher, lambda: len(sent) == 3, "the RAR handed over, the folder and the files packed")
        for _ in range(3):
            watcher.scan()  # nothing more is handed over
    assert len(sent) == 3
    inbox = s3.bucket_keys("inbox")
    loose_key = next(k for k in inbox if "散装文件" in k)
    assert sorted(inbox) == sorted([f"inbox/xinghuo/{FOLDER}.zip", "inbox/lanxiang/另一份.rar", loose_key])
    assert loose_key.startswith("inbox/lanxiang/lanxiang散装文件")
    client, bucket = s3.store.client, s3.store.inbox_bucket
    packed = read(client, bucket, f"inbox/xinghuo/{FOLDER}.zip")
    assert members(packed) == {f"{FOLDER}/{name}": data for name, data in FOLDER_FILES.items()}
    assert members(read(client, bucket, loose_key)) == LOOSE_FILES
    assert s3.ledger.packing_records() == {}
    events = [e["event"] for e in logs]
    assert events.count("watcher.packed") == 2 and events.count("watcher.upload_waiting") == 2
    assert "watcher.too_deep" not in events

    outcomes = {o.location: o for o in (ingest(IngestRequest.from_json(m), s3.services) for m in sent)}
    docs = {s3.store.read_document(loc)["source"]["location"]: s3.store.read_document(loc) for loc in outcomes}
    folder_doc = docs[f"{bucket}/inbox/xinghuo/{FOLDER}.zip"]
    assert folder_doc["source"] == {"kind": "s3", "location": f"{bucket}/inbox/xinghuo/{FOLDER}.zip",
                                    "account": "xinghuo", "uploaded_as": "folder", "uploaded_name": FOLDER,
                                    "uploaded_files": len(FOLDER_FILES)}
    loose_doc = docs[f"{bucket}/{loose_key}"]
    assert loose_doc["source"]["uploaded_as"] == "files"
    assert loose_doc["source"]["uploaded_files"] == len(LOOSE_FILES)
    rar_doc = docs[f"{bucket}/inbox/lanxiang/另一份.rar"]
    assert [e["code"] for e in rar_doc["errors"]] == ["PKG_NOT_ZIP"] and "uploaded_as" not in rar_doc["source"]
    assert s3.bucket_keys("inbox") == []


def test_a_crash_between_the_put_and_the_deletes_gives_one_zip_and_loses_nothing(s3: S3Harness, tmp_path: Path):
    for name, data in FOLDER_FILES.items():
        s3.drop(f"xinghuo/{FOLDER}/{name}", data)
    composition = fast(s3)
    sent: list[dict[str, Any]] = []
    log = structlog.get_logger()
    crashing = bucket_watcher(composition, log, Handover(composition.services, sent.append, log))
    assert crashing.packer is not None
    crashing.packer._faults = FaultPoints("pack_after_put=raise")
    with structlog.testing.capture_logs() as logs:
        scan_until(crashing, lambda: any(e["event"] == "watcher.pack_failed" for e in logs), "the crash")
    # put, its sources not deleted, the ledger says so: the ZIP is not handed over meanwhile
    target = f"inbox/xinghuo/{FOLDER}.zip"
    assert sent == [] and list(s3.ledger.packing_records()) == [target]
    assert sorted(s3.bucket_keys("inbox")) == sorted([target, *(f"inbox/xinghuo/{FOLDER}/{n}" for n in FOLDER_FILES)])
    # the operator sees one upload being packed: neither the ZIP nor the folder besides
    waiting = inventory_of(s3.store, 0.3).inbox()
    assert [(w.kind, w.location, w.files) for w in waiting] == [
        ("packing", f"inbox/xinghuo/{FOLDER}/", len(FOLDER_FILES))]
    # the watcher died holding the lock: a watcher of this host takes it over at once
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    group_key = next(iter(s3.ledger.packing_records().values()))["group"]
    assert s3.ledger.acquire_lease(f"pack-{group_key}", f"{socket.gethostname()}-{dead.pid}", LOCK_SECONDS)
    restarted = bucket_watcher(composition, log, Handover(composition.services, sent.append, log))
    with structlog.testing.capture_logs() as logs:
        restarted.scan()
        restarted.scan()
    assert [m["location"] for m in sent] == [target]
    assert "watcher.pack_resumed" in [e["event"] for e in logs]
    assert "watcher.packed" not in [e["event"] for e in logs]  # not packed twice
    assert s3.bucket_keys("inbox") == [target] and s3.ledger.packing_records() == {}
    assert members(read(s3.store.client, s3.store.inbox_bucket, target)) == {
        f"{FOLDER}/{name}": data for name, data in FOLDER_FILES.items()}
    outcome = ingest(IngestRequest.from_json(sent[0]), s3.services)
    assert outcome is not None and s3.bucket_keys("inbox") == []


def test_a_put_zip_whose_record_redis_lost_is_found_by_its_marker(s3: S3Harness):
    for name, data in LOOSE_FILES.items():
        s3.drop(f"lanxiang/{name}", data)
    composition = fast(s3)
    sent: list[dict[str, Any]] = []
    log = structlog.get_logger()
    crashing = bucket_watcher(composition, log, Handover(composition.services, sent.append, log))
    crashing.packer._faults = FaultPoints("pack_after_put=raise")
    scan_until(crashing, lambda: s3.ledger.packing_records(), "the crash")
    (target,) = s3.ledger.packing_records()
    s3.ledger.drop_packing(target)  # Redis lost it
    meta = s3.store.client.stat_object(s3.store.inbox_bucket, target).metadata
    assert meta.get(PACKED_META)
    watcher = bucket_watcher(composition, log, Handover(composition.services, sent.append, log))
    scan_until(watcher, lambda: sent, "the sources deleted, the ZIP handed over")
    assert [m["location"] for m in sent] == [target] and s3.bucket_keys("inbox") == [target]
    assert members(read(s3.store.client, s3.store.inbox_bucket, target)) == LOOSE_FILES


def test_an_upload_taking_the_name_first_is_never_overwritten_and_a_changed_source_is_not_packed(s3: S3Harness):
    s3.drop(f"xinghuo/{FOLDER}.zip", small_zip("the institution's own"))
    for name, data in FOLDER_FILES.items():
        s3.drop(f"xinghuo/{FOLDER}/{name}", data)
    composition = fast(s3)
    work = composition.settings.work_dir
    packer = BucketPacker(s3.store.client, s3.store.inbox_bucket, "inbox/", s3.ledger, work, structlog.get_logger())
    objects = list(s3.store.client.list_objects(s3.store.inbox_bucket, prefix="inbox/", recursive=True))
    (group,) = sort_listing(objects, "inbox/", time.time(), 1800.0).groups
    s3.drop(f"xinghuo/{FOLDER}/培训方案.json", b'{"plan": 2}')  # changed after the listing
    with structlog.testing.capture_logs() as logs:
        assert packer.pack(group) is None
    assert [e["event"] for e in logs] == ["watcher.pack_abandoned"]
    objects = list(s3.store.client.list_objects(s3.store.inbox_bucket, prefix="inbox/", recursive=True))
    (group,) = sort_listing(objects, "inbox/", time.time(), 1800.0).groups
    assert packer.pack(group) == f"inbox/xinghuo/{FOLDER}（2）.zip"
    assert read(s3.store.client, s3.store.inbox_bucket, f"inbox/xinghuo/{FOLDER}.zip") == small_zip("the institution's own")
    assert not list(Path(work).glob("*-packing/*"))  # the temporary ZIP is gone


# -- the operator's view ------------------------------------------------------------------------

def test_the_operator_sees_folders_and_loose_objects_waiting_in_the_bucket(s3: S3Harness, redis_server):
    for name, data in FOLDER_FILES.items():
        s3.drop(f"xinghuo/{FOLDER}/{name}", data)
    for name, data in LOOSE_FILES.items():
        s3.drop(f"lanxiang/{name}", data)
    s3.drop("lanxiang/视频2.mp4.filepart", b"uploading")
    s3.drop("xinghuo/one.zip", small_zip("one"))
    composition = fast(s3, redis_url=redis_server.url)
    composition = Composition(dataclasses.replace(composition.settings, folder_quiet_period=600), checks=())
    status = composition.ops().status()
    uploads = {u["location"]: u for u in status["inbox"]["uploads"]}
    assert set(uploads) == {f"inbox/xinghuo/{FOLDER}/", "inbox/lanxiang/（3 个零散文件）"}
    assert uploads[f"inbox/xinghuo/{FOLDER}/"]["kind"] == "folder"
    assert uploads[f"inbox/xinghuo/{FOLDER}/"]["files"] == len(FOLDER_FILES)
    assert 0 < uploads[f"inbox/xinghuo/{FOLDER}/"]["taken_in_s"] <= 600
    assert uploads["inbox/lanxiang/（3 个零散文件）"]["taken_in_s"] is None  # the .filepart beside them
    assert status["inbox"]["waiting"] == 3  # the ZIP, the folder, the loose files: each once
    assert status["inbox"]["skipped"] == []
    assert composition.ops().gauges()["inbox_waiting"] == 3


# -- end to end ---------------------------------------------------------------------------------

@pytest.fixture
def running(tmp_path: Path, moto_s3: MotoS3) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
            proc.kill()


@pytest.mark.slow
def test_pipeline_run_packs_a_bucket_folder_once_even_when_killed_after_the_put(
        tmp_path: Path, moto_s3: MotoS3, running: list[subprocess.Popen[bytes]]):
    from tests.support.running import good_package

    b = moto_s3.new_buckets(create=False)
    client = moto_s3.client()
    log_path = tmp_path / "pipeline.log"
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(moto_s3.env(b), PIPELINE_DATA_DIR=str(tmp_path / "data"), PIPELINE_SCAN_INTERVAL="1",
               PIPELINE_FOLDER_QUIET_PERIOD="1", PIPELINE_WORKER_PROCESSES="1", PIPELINE_WORKER_THREADS="2",
               PIPELINE_LOG_FORMAT="json", PIPELINE_MIN_BACKOFF_MS="200",
               PIPELINE_FAULT_POINTS="pack_after_put=kill-once@xinghuo")
    running.append(subprocess.Popen([sys.executable, "-m", "pipeline", "run"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=open(log_path, "ab")))

    def events() -> list[dict[str, Any]]:
        out = []
        for line in log_path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    wait_until(lambda: any(e.get("event") == "watcher.started" for e in events()), 60, message="watcher start")
    with zipfile.ZipFile(io.BytesIO(good_package("s3-folder"))) as zf:
        originals = {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}
    (top,) = {name.split("/")[0] for name in originals}
    for name, data in originals.items():
        put(client, b.inbox, f"inbox/xinghuo/{name}", data)
    for name, data in LOOSE_FILES.items():
        put(client, b.inbox, f"inbox/lanxiang/{name}", data)
    put(client, b.inbox, "inbox/lanxiang/另一份.rar", RAR)

    def documents() -> dict[str, dict[str, Any]]:
        out = {}
        for bucket in (b.archive, b.quarantine):
            for key in keys(client, bucket):
                if key.endswith((".json",)) and not key.startswith("journal/"):
                    doc = json.loads(read(client, bucket, key))
                    out[doc["source"]["location"]] = doc
        return out

    wait_until(lambda: len(documents()) >= 3 and keys(client, b.inbox) == [], 90, message="three decisions")
    docs = documents()
    assert len(docs) == 3, sorted(docs)
    folder_doc = docs[f"{b.inbox}/inbox/xinghuo/{top}.zip"]
    assert folder_doc["status"] == "accepted", folder_doc.get("errors")
    assert folder_doc["source"]["uploaded_as"] == "folder" and folder_doc["source"]["uploaded_name"] == top
    archived = [k for k in keys(client, b.archive) if k.endswith(f"/{top}.zip")]
    assert len(archived) == 1 and members(read(client, b.archive, archived[0])) == originals
    loose_doc = next(d for loc, d in docs.items() if "散装文件" in loc)
    assert loose_doc["source"]["uploaded_as"] == "files" and loose_doc["status"] == "rejected"
    assert [e["code"] for e in docs[f"{b.inbox}/inbox/lanxiang/另一份.rar"]["errors"]] == ["PKG_NOT_ZIP"]
    log = events()
    kills = [e for e in log if e.get("event") == "supervisor.child_exited" and e.get("child") == "watcher"]
    assert len(kills) == 1  # killed once after the PUT, restarted, finished: still one answer
    assert any(e.get("event") == "watcher.pack_resumed" for e in log)
    assert len([e for e in log if e.get("event") == "package.decided"]) == 3
