"""The operator queries, called in this process: the library behind the operator commands
(pipeline/ops/queries.py with metrics.py and presence.py; the catalogue's decisions,
pipeline/catalogue/decisions.py; the stores' inventory, pipeline/intake/inventory.py) on a
real Redis, the catalogue's SQLite file and real stores (folders; S3 on moto's server): the
decisions and their rebuild, counting each decision once, requeue, status,
find/receipt/verify on S3. And what the operator reads in the logs: docs/operations.md lists
every event the code logs with its fields; media progress lines carry the receipt id.

The same commands as an operator types them, against a running `pipeline run`:
tests/test_operator_commands.py."""

from __future__ import annotations

import dataclasses

import ast
import io
import json
import os
import re
import time
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog.testing

from pipeline.app.settings import load_settings
from pipeline.check.documents import schema_errors
from pipeline.intake.deciding import Services, ingest
from pipeline.intake.inventory import documents
from pipeline.ops.metrics import decision_increments
from pipeline.app.compose import Composition
from pipeline.ops.queries import Ops
from pipeline.check.policy import load_policy
from pipeline.ops.presence import Presence
from pipeline.intake.s3_store import inbox_request
from pipeline.intake.uploads import IngestRequest
from pipeline.check.identity import make_id_number
from tests.support.leaks import leaks, leaks_in
from tests.support.s3server import MotoS3, keys, put, read

ROOT = Path(__file__).resolve().parent.parent
RAR = b"Rar!\x1a\x07\x01\x00" + bytes(range(256)) * 4


def make_zip(tag: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("report/readme.txt", f"package {tag}".encode())
    return buf.getvalue()


@pytest.fixture
def fs(settings, redis_server, redis_client) -> tuple[Services, Ops]:
    # only the reader's rules: these tests are about where decisions are, not the checks
    composition = Composition(dataclasses.replace(settings, redis_url=redis_server.url), checks=())
    return composition.services, composition.ops()


def drop(services: Services, relative: str, data: bytes) -> IngestRequest:
    path = services.store.inbox / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    st = path.stat()
    return IngestRequest(relative, st.st_size, str(st.st_mtime_ns))


def decide(services: Services, ops: Ops, request: IngestRequest) -> dict[str, Any]:
    """What the ingest and package_decided actors do: decide, store, catalogue."""
    outcome = ingest(request, services)
    assert outcome is not None
    document = services.store.read_document(outcome.location)
    ops.catalogue.record(document, outcome.location, count=decision_increments(document, 0.2))
    return document


def test_the_catalogue_is_filled_from_the_documents_when_empty_and_rebuilt_on_demand(fs):
    services, ops = fs
    good = decide(services, ops, drop(services, "xinghuo/good.zip", make_zip("good")))
    bad = decide(services, ops, drop(services, "bad.zip", RAR))
    assert ops.catalogue.built() is None  # written by the workers, never rebuilt yet

    ops.catalogue.forget([good["receipt_id"], bad["receipt_id"]])  # e.g. a new database
    assert ops.catalogue.size() == 0
    found = ops.find("good")  # filled first, automatically
    assert [d["receipt_id"] for d in found["decisions"]] == [good["receipt_id"]]
    assert ops.catalogue.built()["documents"] == 2
    assert ops.find(bad["package"]["sha256"])["decisions"][0]["error_codes"] == ["PKG_NOT_ZIP"]
    assert ops.find("xinghuo")["decisions"][0]["account"] == "xinghuo"  # by account too

    # a document gone from the store: the rebuild drops its entry (old enough to be no race)
    folder = services.store.data_dir / ops.catalogue.get(bad["receipt_id"])["location"]
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    stats = ops.catalogue.rebuild(documents(ops.inventory), grace_seconds=-60)
    assert stats["documents"] == 1 and stats["dropped"] == 1
    assert ops.catalogue.get(bad["receipt_id"]) is None and ops.catalogue.counts() == {
        "accepted": 1, "rejected": 0, "duplicate": 0}
    # a decision the catalogue misses is found in the store by its id (and recorded again)
    ops.catalogue.forget([good["receipt_id"]])
    assert ops.find(good["receipt_id"])["decisions"][0]["status"] == "accepted"
    assert ops.catalogue.get(good["receipt_id"]) is not None


def test_each_decision_is_counted_once_however_often_it_is_recorded(fs):
    services, ops = fs
    document = decide(services, ops, drop(services, "bad.zip", RAR))
    location = ops.catalogue.get(document["receipt_id"])["location"]
    assert not ops.catalogue.record(document, location, count=decision_increments(document, 0.2))  # a redelivery
    counters = ops.counters.all()
    assert counters["decided:rejected"] == 1 and counters["error:PKG_NOT_ZIP"] == 1
    assert counters["bytes"] == len(RAR) and counters["seconds_count"] == 1
    assert counters["seconds_bucket:0.25"] == 1


def test_requeue_makes_one_new_decision_through_repeats_and_interruptions(fs):
    services, ops = fs
    old = decide(services, ops, drop(services, "xinghuo/bad.zip", RAR))
    old_folder = services.store.data_dir / ops.catalogue.get(old["receipt_id"])["location"]
    before = {p.name: p.read_bytes() for p in old_folder.iterdir()}
    sent: list[dict[str, Any]] = []
    selection = ops.requeue_selection([old["receipt_id"]], None, [])

    [first] = ops.requeue(selection, send=sent.append)
    assert first["action"] == "queued" and len(sent) == 1
    new_rid = first["new_receipt_id"]
    claims = ops.inventory.claims()
    assert [(c.receipt_id, c.supersedes) for c in claims] == [(new_rid, old["receipt_id"])]

    # the run stopped after recording, before the claim: a repeat finishes it, same id
    claim_dir = services.store.claims / claims[0].version
    for path in claim_dir.iterdir():
        path.unlink()
    claim_dir.rmdir()
    [second] = ops.requeue(selection, send=sent.append)
    assert (second["action"], second["new_receipt_id"]) == ("queued_again", new_rid)
    assert sent[0] == sent[1] and len(ops.inventory.claims()) == 1

    # a worker takes it (twice: a redelivered message), then requeue is a no-op
    request = IngestRequest.from_json(sent[0])
    new = decide(services, ops, request)
    assert ingest(request, services) is None
    assert (new["receipt_id"], new["supersedes"], new["status"]) == (new_rid, old["receipt_id"], "rejected")
    assert schema_errors(new) == [] and new["source"] == old["source"]
    [third] = ops.requeue(selection, send=sent.append)
    assert (third["action"], third["new_receipt_id"]) == ("already_decided", new_rid) and len(sent) == 2
    assert {p.name: p.read_bytes() for p in old_folder.iterdir()} == before
    docs = [json.loads(p.read_text("utf-8")) for area in ("archive", "quarantine")
            for p in (services.store.data_dir / area).glob("*/*/*.json")]
    assert sorted(d["receipt_id"] for d in docs) == sorted([old["receipt_id"], new_rid])
    assert ops.catalogue.get(old["receipt_id"])["superseded_by"] == new_rid
    # neither the re-checked decision nor the re-check is chosen again by a selection
    assert ops.requeue_selection([], None, ["PKG_NOT_ZIP"]) == []

    good = decide(services, ops, drop(services, "good.zip", make_zip("good")))
    [skipped] = ops.requeue(ops.requeue_selection([good["receipt_id"], "R20991231-00000000"], None, [])[:1],
                            send=sent.append)
    assert skipped["action"] == "skipped"
    [missing] = ops.requeue(ops.requeue_selection(["R20991231-00000000"], None, []), send=sent.append)
    assert missing["action"] == "not_found" and len(sent) == 2


def test_status_reads_the_queues_the_claims_and_the_live_workers(fs, redis_server):
    services, ops = fs
    composition = Composition(load_settings(env={"REDIS_URL": redis_server.url}))
    send = composition.send_ingest
    for n in range(3):
        send(drop(services, f"w{n}.zip", make_zip(f"w{n}")).to_json())
    ops.client.zadd("pipeline-dramatiq:mail.XQ", {"dead-message": 1})
    worker = Presence(ops.client, "pipeline", {"threads": 3})
    worker.start()
    try:
        st = ops.status()
    finally:
        worker.stop()
    assert st["queues"]["packages"] == {"queued": 3, "delayed": 0, "dead": 0}
    assert st["queues"]["mail"] == {"queued": 0, "delayed": 0, "dead": 1}
    assert st["inbox"]["waiting"] == 3 and st["inbox"]["oldest"]["location"].startswith("w")
    assert st["workers"]["alive"] == 1 and st["workers"]["processes"][0]["threads"] == 3
    assert ops.status()["workers"]["alive"] == 0  # stopped cleanly
    assert ops.gauges()["inbox_waiting"] == 3
    composition.broker.close()


def test_status_lists_what_the_watcher_skips_in_the_inbox(fs, tmp_path):
    """Symlinks, FIFOs, unpacked packages, hidden folders and uploads nobody finished are
    listed by `pipeline status` with what to do, masked; young uploads in progress are not."""
    from pipeline.app.ops_cli import render_status

    services, ops = fs
    inbox = services.store.inbox
    drop(services, "xinghuo/waiting.zip", make_zip("waiting"))  # an ordinary upload: not skipped
    assert ops.status()["inbox"]["skipped"] == []
    assert "skipped" not in render_status(ops.status())  # nothing said when there is nothing

    (tmp_path / "elsewhere.zip").write_bytes(make_zip("elsewhere"))
    (inbox / "link.zip").symlink_to(tmp_path / "elsewhere.zip")
    os.mkfifo(inbox / "xinghuo" / "pipe.zip")
    (inbox / f"张三{ID}.zip" / "report").mkdir(parents=True)  # an unpacked package
    (inbox / f"张三{ID}.zip" / "report" / "a.zip").write_bytes(make_zip("inside"))
    (inbox / ".cache").mkdir()
    for name, age in (("old.zip.filepart", ops.stale_upload_timeout + 60), ("new.zip.part", 5)):
        (inbox / name).write_bytes(b"PK\x03\x04")
        os.utime(inbox / name, (time.time() - age, time.time() - age))

    status = ops.status()
    shown = status["inbox"]["skipped"]
    assert [(e["relative"], e["account"], e["kind"]) for e in shown] == [
        (".cache", "", "hidden_folder"),
        ("link.zip", "", "symlink"),
        ("old.zip.filepart", "", "unfinished_upload"),
        ("xinghuo/pipe.zip", "xinghuo", "not_a_file"),
        (f"张三{MASKED_ID}.zip", "", "folder_named_like_a_package"),
    ]
    assert all(e["note"] for e in shown) and shown[2]["age_s"] >= ops.stale_upload_timeout
    assert status["inbox"]["waiting"] == 1  # the unpacked folder's ZIP is no upload waiting
    text = render_status(status)
    assert "skipped in the inbox: 5" in text
    for e in shown:
        assert f"  {e['relative']}  {e['kind']}  {e['note']}" in text.splitlines()
    assert not leaks(text) and not leaks_in(status)


def test_s3_catalogue_find_verify_and_requeue(tmp_path, moto_s3: MotoS3, redis_server, redis_client):
    buckets = moto_s3.new_buckets(create=False)
    settings = load_settings(env={"PIPELINE_DATA_DIR": str(tmp_path / "data"), "REDIS_URL": redis_server.url,
                                  **moto_s3.env(buckets)})
    composition = Composition(settings, checks=())
    services, ops = composition.services, composition.ops()
    store = services.store

    def upload(key: str, data: bytes) -> IngestRequest:
        put(store.client, buckets.inbox, key, data)
        return inbox_request(store.client.stat_object(buckets.inbox, key))

    good = ingest(upload("inbox/xinghuo/good.zip", make_zip("s3-good")), services)
    bad = ingest(upload("inbox/bad.zip", RAR), services)
    assert ops.ensure_catalogue()["documents"] == 2  # filled from the buckets' documents
    [hit] = ops.find("good.zip")["decisions"]
    assert hit["zip"] == f"s3://{good.location}/good.zip" and hit["document"] == f"s3://{good.location}/receipt.json"
    assert ops.find(bad.receipt_id)["decisions"][0]["location"] == bad.location
    assert ops.receipt(good.receipt_id)["document"]["status"] == "accepted"
    assert ops.status()["inbox"]["skipped"] == []  # a bucket has nothing the watcher skips

    # named after a person: the commands show it masked, the bucket keeps its own name
    named_zip = make_zip("s3-named")
    named = ingest(upload(f"inbox/xinghuo/张三{ID}.zip", named_zip), services)
    [hit] = ops.find(named.receipt_id)["decisions"]
    assert hit["zip"] == f"s3://{named.location}/张三{MASKED_ID}.zip" and not leaks_in(hit)
    assert ops.receipt(named.receipt_id)["zip"] == f"s3://{named.location}/张三{MASKED_ID}.zip"
    assert read(store.client, buckets.archive, named.location.split("/", 1)[1] + f"/张三{ID}.zip") == named_zip
    assert ops.verify_archive()["problems"] == []  # the ZIP is found by listing its prefix
    put(store.client, buckets.archive, good.location.split("/", 1)[1] + "/good.zip", make_zip("tampered"))
    [problem] = ops.verify_archive()["problems"]
    assert problem["receipt_id"] == good.receipt_id and problem["problem"] == "mismatch"

    sent: list[dict[str, Any]] = []
    [queued] = ops.requeue(ops.requeue_selection([bad.receipt_id], None, []), send=sent.append)
    assert queued["action"] == "queued" and sent[0]["location"] == f"requeue/{bad.receipt_id}/bad.zip"
    outcome = ingest(IngestRequest.from_json(sent[0]), services)
    assert outcome is not None and outcome.receipt_id == queued["new_receipt_id"]
    new = store.read_document(outcome.location)
    assert new["supersedes"] == bad.receipt_id and [e["code"] for e in new["errors"]] == ["PKG_NOT_ZIP"]
    assert keys(store.client, buckets.inbox) == []  # the copy is gone with its claim
    assert read(store.client, buckets.quarantine, bad.location.split("/", 1)[1] + "/bad.zip") == RAR
    assert json.loads(read(store.client, buckets.quarantine, bad.location.split("/", 1)[1] + "/errors.json"))[
        "receipt_id"] == bad.receipt_id


# -- privacy: what the operator sees ---------------------------------------------------------
ID = make_id_number("610116", date(1980, 11, 11), 338)  # 610116198011113382
MASKED_ID = "610116********3382"
MOBILE = "13812345678"


def zip_with_members(*names: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in names:
            zf.writestr(name, b"x")
    return buf.getvalue()


def test_find_receipt_status_and_verify_show_personal_numbers_masked(fs):
    """An upload named after a person's ID (张三610116198011113382.zip): the document, the
    index, `pipeline find`, `pipeline receipt` and `pipeline status` show the number masked;
    the archived ZIP keeps its name, and verify-archive and requeue still find it."""
    from pipeline.app.ops_cli import render_found, render_status
    from pipeline.check.report import render_text

    services, ops = fs
    data = zip_with_members(f"report/{MOBILE}.txt", "report/微信图片_20231105143022.jpg",
                            f"__MACOSX/report/._{ID}.txt")
    good = decide(services, ops, drop(services, f"xinghuo/张三{ID}.zip", data))
    bad = decide(services, ops, drop(services, f"xinghuo/李四{ID}.zip", RAR))
    rid = good["receipt_id"]
    assert good["package"]["name"] == f"张三{MASKED_ID}.zip"
    assert good["source"]["location"] == f"inbox/xinghuo/张三{MASKED_ID}.zip"
    assert [m["path"] for m in good["manifest"]] == ["report/138****5678.txt", "report/微信图片_20231105143022.jpg"]
    assert good["ignored"] == [f"__MACOSX/report/._{MASKED_ID}.txt"]
    folder = services.store.data_dir / ops.catalogue.get(rid)["location"]
    assert (folder / f"张三{ID}.zip").read_bytes() == data  # archived unchanged, under its own name
    assert not leaks_in(list(ops.catalogue))  # the catalogue (the database)

    drop(services, f"xinghuo/{MOBILE}.zip", b"waiting")  # in the inbox, not taken up yet
    for query in (f"张三{ID}", "610116", rid):  # a full number is looked for masked too
        found = ops.find(query)
        assert rid in [d["receipt_id"] for d in found["decisions"]], query
        shown = render_found(found)
        assert not leaks(shown) and not leaks_in(found), shown
        assert f"张三{MASKED_ID}.zip" in shown and good["package"]["sha256"] in shown
    assert ops.find(MOBILE)["waiting"][0]["location"] == "xinghuo/138****5678.zip"
    status = ops.status()
    assert status["inbox"]["oldest"]["location"] == "xinghuo/138****5678.zip"
    assert not leaks(render_status(status)) and not leaks_in(status)
    receipt = ops.receipt(rid)
    assert receipt["zip"].endswith(f"/张三{MASKED_ID}.zip") and receipt["document"] == good
    assert not leaks(render_text(receipt["document"]))
    assert ops.verify_archive(areas=("archive", "quarantine"))["problems"] == []

    # a document stored before names were masked: the index and the commands mask it
    old = json.loads(json.dumps(good))
    old["package"]["name"], old["source"]["location"] = f"张三{ID}.zip", f"inbox/xinghuo/张三{ID}.zip"
    (folder / "receipt.json").write_text(json.dumps(old, ensure_ascii=False), encoding="utf-8")
    ops.rebuild_decisions()
    assert not leaks_in(list(ops.catalogue))
    assert ops.receipt(rid)["document"]["package"]["name"] == f"张三{MASKED_ID}.zip"
    assert not leaks_in(ops.find(f"张三{ID}")) and ops.verify_archive()["problems"] == []

    # requeue (and its dry run) finds the archived ZIP by listing its folder
    selection = ops.requeue_selection([bad["receipt_id"]], None, [])
    [dry] = ops.requeue_dry_run(selection, policy=load_policy())
    assert dry["new_status"] == "rejected" and dry["new_error_codes"] == ["PKG_NOT_ZIP"]
    sent: list[dict[str, Any]] = []
    [queued] = ops.requeue(selection, send=sent.append)
    new = decide(services, ops, IngestRequest.from_json(sent[0]))
    assert new["supersedes"] == bad["receipt_id"] and new["package"]["name"] == f"李四{MASKED_ID}.zip"


def test_media_progress_is_logged_with_the_receipt_id(settings, redis_client):
    from pipeline.check.assess import assess
    from tests.support.packages import PackageBuilder

    zip_path = PackageBuilder(tag="progress").to_zip(settings.data_dir.parent / "p.zip")
    with structlog.testing.capture_logs() as logs, structlog.contextvars.bound_contextvars(receipt_id="R1"):
        assess(zip_path, "p.zip", load_policy(), settings.data_dir / "work", datetime(2026, 11, 27).date())
    progress = [x for x in logs if x["event"] == "media.progress"]
    assert progress and progress[0]["done"] == 10 and progress[0]["total"] == 16  # 2 x (5 photos + 3 videos)
    assert all(x["receipt_id"] == "R1" for x in progress)


# -- the operations page -------------------------------------------------------------------
_LEVELS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "msg"}


def log_events() -> dict[str, set[str]]:
    """Every event name our code logs -> the fields passed with it (keyword arguments)."""
    events: dict[str, set[str]] = {}
    for path in sorted([*(ROOT / "pipeline").rglob("*.py"), *(ROOT / "workers").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)
                    and re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", first.value)):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in _LEVELS or name == "ProgressLog":
                fields = events.setdefault(first.value, set())
                fields.update(k.arg for k in node.keywords if k.arg and name != "ProgressLog")
                if name == "ProgressLog":
                    fields.update({"done", "total", "elapsed_s"})
    return events


def test_the_operations_page_lists_every_log_event_with_its_fields():
    events = log_events()
    assert {"package.decided", "media.progress", "requeue.queued", "mail.sent"} <= set(events)
    page = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8").split("### Every event", 1)[1]
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([a-z0-9_]+(?:\.[a-z0-9_]+)+)` \|.*$", page, re.M)}
    missing = sorted(set(events) - set(rows))
    assert not missing, f"docs/operations.md does not list: {missing}"
    undocumented = {e: sorted(f for f in fields if f"`{f}`" not in rows[e]) for e, fields in events.items()}
    assert not {e: f for e, f in undocumented.items() if f}, "fields missing from docs/operations.md"
    assert not sorted(set(rows) - set(events)), "docs/operations.md lists events the code no longer logs"
