"""Duplicates decided from their SHA-256 before any check, stored without a second copy
(a hard link, or a reference in the document), proved by ``verify-archive``; and the
quarantine's retention command (``pipeline prune-quarantine``). Issue 15, point 10.

Deciding and storing on both stores (folders with a Redis ledger, S3 on moto's server),
called in this process; then the same as an operator meets it: ``pipeline run`` with its
real workers deciding duplicates, and the ``pipeline`` commands as subprocesses, on
folders and on S3, with the pipeline running and stopped."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
import structlog.testing

from pipeline.check.documents import schema_errors
from pipeline.intake.deciding import PackageBusy, Services, ingest
from pipeline.intake.faults import FaultPoints, InjectedFault
from pipeline.intake.ledger import MemoryLedger, RedisLedger
from tests.support.running import Pipeline, decisions, good_package
from tests.support.stores import RAR, LocalHarness, S3Harness, StoreHarness, small_zip
from tests.support.waiting import wait_until


@pytest.fixture(params=["fs", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreHarness:
    ledger = RedisLedger(request.getfixturevalue("redis_client"))
    if request.param == "fs":
        return LocalHarness(tmp_path / "data", ledger)
    return S3Harness(tmp_path / "data", request.getfixturevalue("moto_s3"), ledger)


def never_run(view: Any) -> list[Any]:
    raise AssertionError("a check ran on a known duplicate")


def with_checks_that_must_not_run(services: Services) -> Services:
    return dataclasses.replace(services, checks=(never_run,))


def failing_at(services: Services, point: str, tmp_path: Path) -> Services:
    return dataclasses.replace(services, faults=FaultPoints(f"{point}=raise-once", tmp_path / "faults"))


def held_as(store: StoreHarness) -> str:
    return "hard_link" if store.kind == "fs" else "reference"


# -- deciding from the SHA-256 -----------------------------------------------------------------

def test_a_duplicate_is_known_from_its_sha256_and_no_check_runs(store: StoreHarness):
    blob = small_zip("known")
    first = ingest(store.drop("xinghuo/first.zip", blob), store.services)
    assert first is not None and first.status == "accepted"
    with structlog.testing.capture_logs() as logs:
        second = ingest(store.drop("xinghuo/again.zip", blob), with_checks_that_must_not_run(store.services))
    assert second is not None and second.status == "duplicate"
    events = [e["event"] for e in logs]
    assert "package.checking" not in events
    [known] = [e for e in logs if e["event"] == "package.duplicate_known"]
    assert known["duplicate_of"] == first.receipt_id and known["sha256"] == hashlib.sha256(blob).hexdigest()
    [dup] = [d for d in store.stored_decisions() if d.location == second.location]
    document = dup.document
    assert document["duplicate_of"] == first.receipt_id and schema_errors(document) == []
    assert document["package"] == {"name": "again.zip", "size": len(blob), "sha256": known["sha256"]}
    assert document["manifest"] == [] and document["errors"] == []  # nothing was looked into
    assert document["stored_as"]["held_as"] == held_as(store)
    assert store.package_bytes(dup) == blob and store.stored_copies(blob) == 1
    # another package still runs every check (here: the one that must not run)
    with pytest.raises(AssertionError, match="a check ran"):
        ingest(store.drop("other.zip", small_zip("other bytes")), with_checks_that_must_not_run(store.services))


def test_bytes_accepted_before_are_not_known_while_the_acceptances_are_being_restored(store: StoreHarness):
    """After Redis lost its data the acceptances are restored from the archive (no epoch
    meanwhile): a duplicate is then not decided from a half-restored record; it waits."""
    blob = small_zip("restoring")
    first = ingest(store.drop("first.zip", blob), store.services)
    assert first is not None and first.status == "accepted"
    ledger = store.ledger
    assert isinstance(ledger, RedisLedger)
    ledger.client.delete(ledger.epoch_key)
    request = store.drop("again.zip", blob)
    with structlog.testing.capture_logs() as logs, pytest.raises(PackageBusy):
        ingest(request, store.services)
    assert [e["event"] for e in logs if e["event"].startswith("package.")] == [
        "package.checking", "package.waiting_for_restore"]
    ledger.set_epoch("restored")
    again = ingest(request, store.services)
    assert again is not None and again.status == "duplicate"


def test_after_redis_lost_its_data_the_restore_brings_back_what_tells_a_duplicate_unchecked(
        tmp_path: Path, redis_client: Any):
    """The accepted sizes are restored with the acceptances (pipeline/ops/recovery.py): a
    re-upload after the loss is again known from its SHA-256, no check run."""
    fs = LocalHarness(tmp_path / "data", RedisLedger(redis_client))
    blob = small_zip("lost and restored")
    first = ingest(fs.drop("a.zip", blob), fs.services)
    assert first is not None and first.status == "accepted"
    redis_client.flushdb()
    restore = fs.composition.redis_restore()
    assert restore is not None and restore.ensure() is not None
    with structlog.testing.capture_logs() as logs:
        again = ingest(fs.drop("b.zip", blob), with_checks_that_must_not_run(fs.services))
    assert again is not None and again.status == "duplicate"
    assert [e["duplicate_of"] for e in logs if e["event"] == "package.duplicate_known"] == [first.receipt_id]


def test_two_identical_uploads_at_once_one_accepted_one_duplicate(store: StoreHarness):
    blob = small_zip("at once")
    requests = [store.drop("a.zip", blob), store.drop("b.zip", blob)]
    outcomes: list[Any] = []
    barrier = threading.Barrier(2)

    def work(request: Any) -> None:
        barrier.wait()
        outcomes.append(ingest(request, store.services))

    threads = [threading.Thread(target=work, args=(r,)) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(o.status for o in outcomes) == ["accepted", "duplicate"]
    accepted = next(o for o in outcomes if o.status == "accepted")
    dup = next(d for d in store.stored_decisions() if d.area == "quarantine")
    assert dup.document["duplicate_of"] == accepted.receipt_id and store.package_bytes(dup) == blob
    assert store.inbox_is_empty() and store.claims_are_empty()


@pytest.mark.parametrize("point", ["after_decision", "before_release"])
def test_a_duplicate_crashed_while_stored_is_finished_once_without_a_second_copy(store: StoreHarness,
                                                                                  point: str, tmp_path: Path):
    blob = small_zip(f"crash {point}")
    first = ingest(store.drop("first.zip", blob), store.services)
    assert first is not None
    request = store.drop("acct/again.zip", blob)
    crashing = failing_at(store.services, point, tmp_path)
    with pytest.raises(InjectedFault):
        ingest(request, crashing)
    again = ingest(request, crashing)
    assert again is not None and again.status == "duplicate"
    assert ingest(request, crashing) is None  # nothing left to do
    [dup] = [d for d in store.stored_decisions() if d.area == "quarantine"]
    assert dup.document["receipt_id"] == again.receipt_id and dup.document["duplicate_of"] == first.receipt_id
    assert dup.document["stored_as"]["held_as"] == held_as(store)
    assert store.package_bytes(dup) == blob and store.stored_copies(blob) == 1
    assert store.inbox_is_empty() and store.claims_are_empty()


def test_a_duplicate_of_an_acceptance_not_stored_yet_keeps_its_own_copy(store: StoreHarness, tmp_path: Path):
    """The acceptance was recorded but its worker died before storing it: the duplicate
    cannot point at bytes that are not in the archive, so it is stored in full."""
    blob = small_zip("not stored yet")
    first = store.drop("first.zip", blob)
    crashing = failing_at(store.services, "after_decision", tmp_path)
    with pytest.raises(InjectedFault):
        ingest(first, crashing)
    again = ingest(store.drop("again.zip", blob), store.services)
    assert again is not None and again.status == "duplicate"
    [dup] = [d for d in store.stored_decisions() if d.area == "quarantine"]
    assert "stored_as" not in dup.document and dup.zip_bytes == blob
    accepted = ingest(first, crashing)  # the first is finished later
    assert accepted is not None and accepted.status == "accepted"
    assert dup.document["duplicate_of"] == accepted.receipt_id and store.stored_copies(blob) == 2


# -- verify-archive and retention, in this process ---------------------------------------------

@pytest.fixture
def ops(store: StoreHarness, redis_server: Any) -> Any:
    """The operator's view of ``store``, on the same Redis."""
    from pipeline.app.compose import Composition

    return Composition(dataclasses.replace(store.composition.settings, redis_url=redis_server.url)).ops()


def test_verify_follows_a_reference_and_reports_it_broken(store: StoreHarness, ops: Any):
    blob = small_zip("verify")
    first = ingest(store.drop("first.zip", blob), store.services)
    second = ingest(store.drop("again.zip", blob), store.services)
    assert first is not None and second is not None and second.status == "duplicate"
    result = ops.verify_archive(areas=("archive", "quarantine"))
    assert (result["checked"], result["ok"], result["problems"]) == (2, 2, [])
    # the archived ZIP goes (by hand, behind the pipeline's back)
    archived = next(d for d in store.stored_decisions() if d.area == "archive")
    if store.kind == "fs":
        (store.store.data_dir / archived.location / archived.zip_name).unlink()
    else:
        bucket, _, prefix = archived.location.partition("/")
        store.store.client.remove_object(bucket, f"{prefix}/{archived.zip_name}")
    result = ops.verify_archive(areas=("archive", "quarantine"))
    problems = {p["receipt_id"]: p["problem"] for p in result["problems"]}
    if store.kind == "fs":  # the hard link still holds the bytes: only the archive's name is gone
        assert problems == {first.receipt_id: "missing"}
    else:
        assert problems == {first.receipt_id: "missing", second.receipt_id: "broken_reference"}


def test_retention_removes_old_quarantined_zips_keeps_documents_and_never_the_archive(store: StoreHarness,
                                                                                     ops: Any):
    blob = small_zip("retention")
    accepted = ingest(store.drop("first.zip", blob), store.services)
    duplicate = ingest(store.drop("again.zip", blob), store.services)
    rejected = ingest(store.drop("wrong.zip", RAR), store.services)
    assert accepted and duplicate and rejected and rejected.status == "rejected"
    before = {d.location: d.files for d in store.stored_decisions()}
    assert ops.prune_quarantine(1, dry_run=False)["removed"] == 0  # all decided just now
    dry = ops.prune_quarantine(0, dry_run=True)
    assert {i["receipt_id"] for i in dry["items"]} == (
        {duplicate.receipt_id, rejected.receipt_id} if store.kind == "fs" else {rejected.receipt_id})
    assert {d.location: d.files for d in store.stored_decisions()} == before  # nothing removed
    with structlog.testing.capture_logs() as logs:
        done = ops.prune_quarantine(0, dry_run=False)
    assert [i["receipt_id"] for i in done["items"]] == [i["receipt_id"] for i in dry["items"]]
    assert done["bytes"] == len(RAR)  # a hard-linked duplicate frees nothing: the archive keeps it
    removed = [e for e in logs if e["event"] == "quarantine.removed"]
    assert {e["receipt_id"] for e in removed} == {i["receipt_id"] for i in done["items"]}
    after = {d.location: d for d in store.stored_decisions()}
    assert after[accepted.location].files == before[accepted.location]  # the archive untouched
    assert after[accepted.location].zip_bytes == blob
    for outcome in (duplicate, rejected):
        document = after[outcome.location].document
        assert schema_errors(document) == []
        if outcome is rejected or store.kind == "fs":
            assert document["package_removed"]["by"] == "retention"
            assert [n for n in after[outcome.location].files if not n.endswith(".json")] == []
    assert ops.prune_quarantine(0, dry_run=False)["removed"] == 0  # a second run finds nothing
    verified = ops.verify_archive(areas=("archive", "quarantine"))
    assert verified["problems"] == []
    assert ops.receipt(rejected.receipt_id)["zip"].startswith("(removed by retention at ")


# -- through real processes --------------------------------------------------------------------

def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def lines(stderr: str, event: str) -> list[dict[str, Any]]:
    out = []
    for line in stderr.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") == event:
            out.append(record)
    return out


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Pipeline]:
    p = Pipeline(tmp_path / "data", tmp_path / "pipeline.log")
    p.start()
    yield p
    p.kill()


@pytest.mark.slow
def test_pipeline_run_decides_duplicates_unchecked_links_them_and_prunes_the_quarantine(running: Pipeline):
    data = running.data
    blob = good_package("dup-run")
    (data / "inbox" / "xinghuo").mkdir(parents=True, exist_ok=True)
    (data / "inbox" / "xinghuo" / "星火20261120.zip").write_bytes(blob)
    wait_until(lambda: len(decisions(data)) == 1, 60, message="the first decision")
    [(archive_folder, original)] = decisions(data).values()
    assert original["status"] == "accepted"
    for name in ("again.zip", "xinghuo/once-more.zip"):
        (data / "inbox" / name).write_bytes(blob)
    (data / "inbox" / "wrong.zip").write_bytes(RAR)
    wait_until(lambda: len(decisions(data)) == 4, 60, message="two duplicates and a rejection")
    docs = {d["package"]["name"]: (folder, d) for folder, d in decisions(data).values()}
    archived = archive_folder / "星火20261120.zip"
    for name in ("again.zip", "once-more.zip"):
        folder, doc = docs[name]
        assert doc["status"] == "duplicate" and doc["duplicate_of"] == original["receipt_id"]
        assert doc["stored_as"] == {"held_as": "hard_link", "same_bytes_as": f"{archive_folder.relative_to(data)}"
                                                                              f"/星火20261120.zip"}
        assert os.path.samefile(folder / name, archived)  # one copy on disk
    assert archived.stat().st_nlink == 3 and archived.read_bytes() == blob
    events = running.events()
    dup_ids = {docs[n][1]["receipt_id"] for n in ("again.zip", "once-more.zip")}
    assert {e["receipt_id"] for e in events if e.get("event") == "package.duplicate_known"} == dup_ids
    checked = {e.get("receipt_id") for e in events if e.get("event") == "package.checking"}
    assert not checked & dup_ids and original["receipt_id"] in checked

    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PIPELINE_CONFIG")}
    env.update(PIPELINE_DATA_DIR=str(data), PIPELINE_LOG_FORMAT="json")
    verified = cli(env, "verify-archive", "--quarantine", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["ok"] == 4

    # retention: a dry run lists, removes nothing; then the real run; the archive stays
    dry = cli(env, "prune-quarantine", "--older-than", "0", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count("WOULD REMOVE") == 3 and "would remove 3 ZIP(s)" in dry.stdout
    assert len(list((data / "quarantine").glob("*/*/*.zip"))) == 3
    kept = cli(env, "prune-quarantine", "--older-than", "30", "--json")
    assert kept.returncode == 0 and json.loads(kept.stdout)["removed"] == 0
    done = cli(env, "prune-quarantine", "--older-than", "0", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["removed"] == 3 and result["bytes"] == len(RAR)
    removed = lines(done.stderr, "quarantine.removed")
    assert sorted(e["receipt_id"] for e in removed) == sorted(i["receipt_id"] for i in result["items"])
    assert {e["status"] for e in removed} == {"duplicate", "rejected"}
    assert lines(done.stderr, "quarantine.pruned")[0]["removed"] == 3
    assert not list((data / "quarantine").glob("*/*/*.zip"))
    assert archived.read_bytes() == blob and archived.stat().st_nlink == 1  # the archive untouched
    for folder, doc in decisions(data).values():
        assert schema_errors(doc) == []
        assert ("package_removed" in doc) == (doc["status"] != "accepted")
    receipt = cli(env, "receipt", docs["wrong.zip"][1]["receipt_id"])
    assert receipt.returncode == 0 and "removed by retention" in receipt.stdout
    found = cli(env, "find", "wrong.zip", "--json")
    [entry] = json.loads(found.stdout)["decisions"]
    assert entry["zip"].startswith("(removed by retention")
    verified = json.loads(cli(env, "verify-archive", "--quarantine", "--json").stdout)
    assert (verified["ok"], verified["removed_by_retention"], verified["problems"]) == (1, 3, [])
    assert running.stop() < 10


@pytest.mark.slow
def test_a_duplicate_across_file_systems_is_held_by_reference_and_verified(tmp_path: Path):
    """The quarantine on another file system (a tmpfs): no hard link can be made, so the
    duplicate's document names the archived ZIP and its folder holds none; verify-archive
    (the pipeline stopped) follows the reference, and reports it broken once the
    archived ZIP is gone."""
    if os.geteuid() != 0:
        pytest.fail("this test mounts a tmpfs: run it as root (CI does)")
    data = tmp_path / "data"
    (data / "quarantine").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(data / "quarantine")], check=True)
    try:
        fs = LocalHarness(data, MemoryLedger())
        blob = small_zip("across")
        first = ingest(fs.drop("first.zip", blob), fs.services)
        second = ingest(fs.drop("again.zip", blob), fs.services)
        assert first is not None and second is not None and second.status == "duplicate"
        folder = data / second.location
        document = json.loads((folder / "receipt.json").read_text(encoding="utf-8"))
        assert document["stored_as"] == {"same_bytes_as": f"{first.location}/first.zip", "held_as": "reference"}
        assert sorted(p.name for p in folder.iterdir()) == ["receipt.json"]
        assert fs.stored_copies(blob) == 1 and fs.inbox_is_empty() and fs.claims_are_empty()

        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PIPELINE_CONFIG")}
        env.update(PIPELINE_DATA_DIR=str(data), PIPELINE_LOG_FORMAT="json")
        ok = cli(env, "verify-archive", "--quarantine")
        assert ok.returncode == 0 and "2 ok, 0 problem(s)" in ok.stdout, ok.stdout + ok.stderr
        shown = cli(env, "receipt", second.receipt_id)
        assert f"{data / first.location / 'first.zip'} (same bytes, held by reference)" in shown.stdout
        (data / first.location / "first.zip").unlink()
        broken = cli(env, "verify-archive", "--quarantine", "--json")
        assert broken.returncode == 1
        problems = {p["receipt_id"]: p["problem"] for p in json.loads(broken.stdout)["problems"]}
        assert problems == {first.receipt_id: "missing", second.receipt_id: "broken_reference"}
        assert {e["problem"] for e in lines(broken.stderr, "verify.mismatch")} == {"missing", "broken_reference"}
    finally:
        subprocess.run(["umount", str(data / "quarantine")], check=False)


@pytest.mark.slow
def test_prune_quarantine_on_s3_with_the_pipeline_stopped(tmp_path: Path, moto_s3: Any):
    """The command with no pipeline running, on buckets: the dry run removes nothing,
    the real run deletes the quarantined ZIP objects, rewrites their documents and
    leaves the archive bucket as it was."""
    s3 = S3Harness(tmp_path / "data", moto_s3, MemoryLedger())
    blob = small_zip("s3 retention")
    accepted = ingest(s3.drop("first.zip", blob), s3.services)
    duplicate = ingest(s3.drop("again.zip", blob), s3.services)
    rejected = ingest(s3.drop("wrong.zip", RAR), s3.services)
    assert accepted and duplicate and rejected
    archive_before = {k: s3.store.client.stat_object(s3.store.archive_bucket, k).etag
                      for k in s3.bucket_keys("archive")}
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PIPELINE_CONFIG", "PIPELINE_DATA_DIR")}
    env.update(moto_s3.env(s3.buckets), PIPELINE_LOG_FORMAT="json", PIPELINE_DATA_DIR=str(tmp_path / "data"))
    dry = cli(env, "prune-quarantine", "--older-than", "0", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert [i["receipt_id"] for i in json.loads(dry.stdout)["items"]] == [rejected.receipt_id]
    assert len(s3.bucket_keys("quarantine")) == 3  # 2 documents + the rejected ZIP
    done = cli(env, "prune-quarantine", "--older-than", "0")
    assert done.returncode == 0, done.stderr
    assert "removed 1 ZIP(s) from the quarantine" in done.stdout and f"{len(RAR)} bytes freed" in done.stdout
    assert [e["receipt_id"] for e in lines(done.stderr, "quarantine.removed")] == [rejected.receipt_id]
    assert sorted(k.rpartition("/")[2] for k in s3.bucket_keys("quarantine")) == ["errors.json", "receipt.json"]
    assert {k: s3.store.client.stat_object(s3.store.archive_bucket, k).etag
            for k in s3.bucket_keys("archive")} == archive_before
    document = s3.store.read_document(rejected.location)
    assert document["package_removed"]["by"] == "retention" and schema_errors(document) == []
    verified = cli(env, "verify-archive", "--quarantine", "--json")
    assert verified.returncode == 0, verified.stdout
    assert json.loads(verified.stdout)["removed_by_retention"] == 1
