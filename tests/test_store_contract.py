"""The promises every store keeps, whatever it is: one suite run against the local store
(folders; a Redis ledger and the in-memory one) and the S3 store (moto's server; a Redis
ledger), through deciding's entry points (``ingest``, ``quarantine_internal``,
``stuck_requests``), each store behind a harness (tests/support/stores.py: drop, replace,
inbox, stored decisions, claims). Crashes are injected at the generic fault points
(pipeline/intake/faults.py, ``Services.faults``), never inside a store; the two races no
fault point can stage (a claimer stalled while another decides, a give-up path stalled
while a worker decides) stall a look at the package instead.

What only one store does is tested beside it: tests/test_local_store.py (folders),
tests/test_s3.py (buckets, ETags, versioning, the bucket watcher)."""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from pipeline.check.documents import schema_errors
from pipeline.intake.deciding import Outcome, PackageBusy, Services, ingest, quarantine_internal, stuck_requests
from pipeline.intake.faults import FaultPoints, InjectedFault
from pipeline.intake.ledger import MemoryLedger, RedisLedger
from pipeline.intake.store import StoreError
from tests.support.stores import RAR, LocalHarness, S3Harness, StoreHarness, small_zip


@pytest.fixture(params=["fs-redis", "fs-memory", "s3-redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreHarness:
    kind, ledger_kind = request.param.split("-")
    ledger = RedisLedger(request.getfixturevalue("redis_client")) if ledger_kind == "redis" else MemoryLedger()
    if kind == "fs":
        return LocalHarness(tmp_path / "data", ledger)
    return S3Harness(tmp_path / "data", request.getfixturevalue("moto_s3"), ledger)


def failing_at(services: Services, point: str, tmp_path: Path) -> Services:
    """These services crash once at ``point`` (per package), then pass it."""
    return dataclasses.replace(services, faults=FaultPoints(f"{point}=raise-once", tmp_path / "faults"))


def stricter(services: Services) -> Services:
    """Another policy: a re-run that decided again would record its hash."""
    return dataclasses.replace(services, policy=dataclasses.replace(services.policy, sha256="f" * 64))


def assert_settled(store: StoreHarness) -> None:
    """Nothing waits and nothing is half done."""
    assert store.inbox_is_empty()
    assert store.claims_are_empty()


# -- decide once -------------------------------------------------------------------------------

def test_each_upload_is_stored_with_its_bytes_and_a_rerun_changes_nothing(store: StoreHarness):
    services, blob = store.services, small_zip("a")
    good, bad = store.drop("xinghuo/星火 2026.zip", blob), store.drop("wrong.zip", RAR)

    accepted, rejected = ingest(good, services), ingest(bad, services)

    assert accepted is not None and (accepted.status, accepted.errors) == ("accepted", 0)
    assert rejected is not None and rejected.status == "rejected"
    stored = {d.location: d for d in store.stored_decisions()}
    assert sorted(stored) == sorted([accepted.location, rejected.location])
    a, r = stored[accepted.location], stored[rejected.location]
    assert (a.area, sorted(a.files), a.zip_bytes) == ("archive", ["receipt.json", "星火 2026.zip"], blob)
    assert (r.area, sorted(r.files), r.zip_bytes) == ("quarantine", ["errors.json", "wrong.zip"], RAR)
    assert schema_errors(a.document) == [] and schema_errors(r.document) == []
    assert a.document["receipt_id"] == accepted.receipt_id and a.document["status"] == "accepted"
    assert (a.document["source"]["location"], a.document["source"]["account"]) == (
        store.source_location("xinghuo/星火 2026.zip"), "xinghuo")
    assert [e["code"] for e in r.document["errors"]] == ["PKG_NOT_ZIP"] and r.document["source"]["account"] == ""
    assert_settled(store)

    before = store.stored_state()
    store.let_time_pass()
    # a redelivered message, and the actor's give-up path, find nothing left to do
    assert ingest(good, services) is None and ingest(bad, services) is None
    assert quarantine_internal(good, services, reason="late") is None
    assert store.stored_state() == before


def test_read_document_gives_back_the_stored_document_and_refuses_other_places(store: StoreHarness):
    outcome = ingest(store.drop("xinghuo/doc.zip", small_zip("doc")), store.services)
    assert outcome is not None
    [stored] = store.stored_decisions()
    assert store.services.store.read_document(outcome.location) == stored.document
    for elsewhere in (f"inbox/{outcome.receipt_id}", "../elsewhere", ""):
        with pytest.raises(StoreError):
            store.services.store.read_document(elsewhere)


def test_concurrent_workers_make_one_decision(store: StoreHarness):
    request = store.drop("race.zip", small_zip("race"))
    results: list[Outcome | None] = []
    barrier = threading.Barrier(4)

    def work() -> None:
        barrier.wait()
        try:
            results.append(ingest(request, store.services))
        except PackageBusy:  # another thread holds the lease: the actor asks again later
            results.append(None)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    decided = [r for r in results if r is not None]
    assert len(results) == 4 and decided and len({r.receipt_id for r in decided}) == 1
    [stored] = store.stored_decisions()
    assert stored.zip_name == "race.zip" and stored.document["receipt_id"] == decided[0].receipt_id
    assert_settled(store)


def test_a_claimer_stalled_while_another_decided_makes_no_second_decision(store: StoreHarness):
    # Worker B looks at the upload and stalls; meanwhile A claims, decides, stores and
    # releases it. What B then does with what it saw must leave no second decision and no
    # claim holding nothing.
    request = store.drop("stall.zip", small_zip("stall"))
    first: list[Outcome | None] = []
    with store.stall_lookup("stall.zip", lambda: first.append(ingest(request, store.services))):
        late = ingest(request, store.services)
    [a] = first
    assert a is not None and a.status == "accepted"
    assert late is None or (late.receipt_id, late.location) == (a.receipt_id, a.location)
    [stored] = store.stored_decisions()
    assert stored.document["receipt_id"] == a.receipt_id
    assert_settled(store)


# -- versions: names and bytes -----------------------------------------------------------------

def test_the_same_bytes_under_two_names_is_a_duplicate_of_the_first(store: StoreHarness):
    blob = small_zip("dup")
    first = ingest(store.drop("one.zip", blob), store.services)
    second = ingest(store.drop("acct/two.zip", blob), store.services)
    assert first is not None and second is not None
    assert (first.status, second.status) == ("accepted", "duplicate")
    stored = {d.location: d for d in store.stored_decisions()}
    dup = stored[second.location]
    assert dup.area == "quarantine" and store.package_bytes(dup) == blob
    assert dup.document["duplicate_of"] == first.receipt_id and schema_errors(dup.document) == []
    # held without a second copy: a hard link beside its document (folders), a reference (S3)
    assert store.stored_copies(blob) == 1
    if store.kind == "fs":
        assert dup.zip_name == "two.zip" and dup.document["stored_as"]["held_as"] == "hard_link"
    else:
        assert dup.document["stored_as"]["held_as"] == "reference" and list(dup.files) == ["receipt.json"]
    assert dup.document["stored_as"]["same_bytes_as"] == f"{first.location}/one.zip"
    assert_settled(store)


def test_the_same_bytes_uploaded_again_under_the_same_name_get_their_own_decision(store: StoreHarness):
    # the institution uploads again because it did not get the mail: it must hear back
    blob = small_zip("again")
    first = store.drop("again.zip", blob)
    outcome = ingest(first, store.services)
    assert outcome is not None and outcome.status == "accepted"
    second = store.drop("again.zip", blob)
    assert second.version != first.version
    again = ingest(second, store.services)
    assert again is not None and again.status == "duplicate" and again.receipt_id != outcome.receipt_id
    assert store.services.store.read_document(again.location)["duplicate_of"] == outcome.receipt_id
    assert_settled(store)


def test_a_replaced_upload_is_a_new_version_and_the_old_one_is_not_decided(store: StoreHarness):
    old_bytes, new_bytes = small_zip("old"), small_zip("newer content")
    old = store.drop("r.zip", old_bytes)
    new = store.replace("r.zip", new_bytes)
    assert new.version != old.version
    assert ingest(old, store.services) is None  # gone; its successor has its own message
    assert store.inbox() == {"r.zip": new_bytes} and store.claims_are_empty()
    assert store.stored_decisions() == []
    outcome = ingest(new, store.services)
    assert outcome is not None and outcome.status == "accepted"
    [stored] = store.stored_decisions()
    assert stored.zip_bytes == new_bytes
    assert_settled(store)


def test_an_upload_replaced_after_its_claim_is_never_decided_with_the_new_bytes(store: StoreHarness, tmp_path):
    old_bytes, new_bytes = small_zip("before"), small_zip("after")
    old = store.drop("swap.zip", old_bytes)
    crashing = failing_at(store.services, "after_claim", tmp_path)
    with pytest.raises(InjectedFault):
        ingest(old, crashing)
    new = store.replace("swap.zip", new_bytes)  # the uploader overwrites it

    late = ingest(old, crashing)
    # The old version is decided with its own bytes (the local store moved them into the
    # claim), or not at all (an S3 object overwritten in place is gone): never with the new.
    if late is not None:
        [stored] = store.stored_decisions()
        assert stored.zip_bytes == old_bytes and stored.document["package"]["size"] == len(old_bytes)
    else:
        assert store.stored_decisions() == []
    assert store.inbox() == {"swap.zip": new_bytes} and store.claims_are_empty()
    outcome = ingest(new, crashing)
    assert outcome is not None and outcome.status == "accepted"
    assert [d.zip_bytes for d in store.stored_decisions() if d.location == outcome.location] == [new_bytes]
    assert_settled(store)


def test_a_re_upload_of_the_same_bytes_while_deciding_is_not_taken_with_the_first(store: StoreHarness, tmp_path):
    blob = small_zip("while deciding")
    first = store.drop("twice.zip", blob)
    crashing = failing_at(store.services, "after_decision", tmp_path)
    with pytest.raises(InjectedFault):
        ingest(first, crashing)
    second = store.drop("twice.zip", blob)  # lands between the decision and the move
    assert second.version != first.version

    outcome = ingest(first, crashing)
    assert outcome is not None and outcome.status == "accepted"
    assert store.inbox() == {"twice.zip": blob} and store.claims_are_empty()  # the re-upload waits
    again = ingest(second, crashing)
    assert again is not None and again.status == "duplicate"
    assert store.services.store.read_document(again.location)["duplicate_of"] == outcome.receipt_id
    assert len(store.stored_decisions()) == 2
    assert_settled(store)


# -- crashes -----------------------------------------------------------------------------------

#: fault point -> whether the decision is recorded when a crash there happens
CRASH_POINTS = {"after_claim": False, "after_assess": False, "after_decision": True, "before_release": True}


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_a_crash_at_each_point_is_finished_by_a_rerun_with_one_decision(store: StoreHarness, point: str,
                                                                         tmp_path: Path):
    blob = small_zip(point)
    request = store.drop("acme/crash.zip", blob)
    crashing = failing_at(store.services, point, tmp_path)
    with pytest.raises(InjectedFault):
        ingest(request, crashing)

    # what the crash left: a claim nobody holds (sent again by the watcher's recovery)
    [claim] = store.services.store.pending_claims()
    assert claim.request == request
    assert (store.services.ledger.decision(request.version) is not None) == CRASH_POINTS[point]
    stored = store.stored_decisions()
    if point == "before_release":  # stored, and the upload not yet let go of
        assert [d.zip_bytes for d in stored] == [blob]
    else:
        assert stored == []
    assert stuck_requests(store.services, [], time.time()) == [request]

    # the re-run (a newer policy meanwhile) finishes with the claim's receipt id; a
    # recorded decision stands as it was recorded
    rerun = stricter(crashing)
    outcome = ingest(request, rerun)
    assert outcome is not None and outcome.status == "accepted" and outcome.receipt_id == claim.receipt_id
    [stored_decision] = store.stored_decisions()
    assert stored_decision.zip_bytes == blob and stored_decision.location == outcome.location
    expected_policy = store.services.policy.sha256 if CRASH_POINTS[point] else rerun.policy.sha256
    assert stored_decision.document["policy_sha256"] == expected_policy
    assert_settled(store)
    assert ingest(request, rerun) is None


def test_a_crash_after_the_package_is_stored_leaves_nothing_to_do(store: StoreHarness, tmp_path: Path):
    request = store.drop("done.zip", small_zip("done"))
    crashing = failing_at(store.services, "after_finalize", tmp_path)
    with pytest.raises(InjectedFault):  # stored; the follow-up message was never sent
        ingest(request, crashing)
    assert_settled(store)
    [stored] = store.stored_decisions()
    before = store.stored_state()
    store.let_time_pass()
    assert ingest(request, crashing) is None
    assert store.stored_state() == before and stored.document["status"] == "accepted"


def test_a_claimed_package_that_vanished_before_its_decision_is_dropped_undecided(store: StoreHarness,
                                                                                   tmp_path: Path):
    request = store.drop("gone.zip", small_zip("gone"))
    crashing = failing_at(store.services, "after_claim", tmp_path)
    with pytest.raises(InjectedFault):
        ingest(request, crashing)
    [claim] = store.services.store.pending_claims()
    store.lose_package(claim)
    assert ingest(request, crashing) is None
    assert store.stored_decisions() == [] and store.services.ledger.decision(request.version) is None
    assert_settled(store)


def test_a_decided_package_neither_claimed_nor_stored_is_an_error_and_its_claim_stays(store: StoreHarness,
                                                                                       tmp_path: Path):
    request = store.drop("lost.zip", small_zip("lost"))
    crashing = failing_at(store.services, "after_decision", tmp_path)
    with pytest.raises(InjectedFault):
        ingest(request, crashing)
    [claim] = store.services.store.pending_claims()
    store.lose_package(claim)  # gone behind our back after the decision
    with pytest.raises(StoreError, match="neither"):
        ingest(request, crashing)
    assert store.services.store.pending_claims() == [claim]  # kept: someone must look
    assert [d.files.get("lost.zip") for d in store.stored_decisions()] in ([], [None])


# -- INTERNAL ----------------------------------------------------------------------------------

def test_internal_quarantine_keeps_the_package(store: StoreHarness):
    blob = small_zip("poison")
    request = store.drop("acct/poison.zip", blob)
    outcome = quarantine_internal(request, store.services, reason="ValueError: boom")
    assert outcome is not None and outcome.status == "rejected"
    [stored] = store.stored_decisions()
    assert (stored.area, stored.location, sorted(stored.files)) == (
        "quarantine", outcome.location, ["errors.json", "poison.zip"])
    assert stored.zip_bytes == blob
    assert [e["code"] for e in stored.document["errors"]] == ["INTERNAL"] and schema_errors(stored.document) == []
    assert stored.document["source"]["location"] == store.source_location("acct/poison.zip")
    assert_settled(store)


@pytest.mark.parametrize("point", ["after_decision", "before_release"])
def test_internal_after_a_recorded_decision_keeps_the_first_decision(store: StoreHarness, point: str,
                                                                     tmp_path: Path):
    # the give-up path after a crash with the decision recorded (before_release: stored too)
    request = store.drop("late.zip", small_zip("late"))
    crashing = failing_at(store.services, point, tmp_path)
    with pytest.raises(InjectedFault):
        ingest(request, crashing)
    recorded = store.services.ledger.decision(request.version)
    outcome = quarantine_internal(request, store.services, reason="InjectedFault")
    assert outcome is not None and (outcome.status, outcome.receipt_id) == ("accepted", recorded["receipt_id"])
    [stored] = store.stored_decisions()
    assert stored.area == "archive" and stored.document == recorded
    assert_settled(store)


def test_a_decision_recorded_meanwhile_stands_over_a_slower_workers_own(store: StoreHarness, tmp_path: Path):
    # Worker A has assessed the package and stalls before recording; meanwhile the give-up
    # path (which takes no lease) records INTERNAL and stores it. A's own verdict must not
    # replace it: A finishes the decision that was recorded first.
    request = store.drop("slow.zip", small_zip("slow"))
    slow = dataclasses.replace(store.services, faults=FaultPoints("after_assess=sleep=1"))
    outcomes: list[Outcome | None] = []
    worker = threading.Thread(target=lambda: outcomes.append(ingest(request, slow)))
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while store.services.ledger.lease_holder(request.version) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        internal = quarantine_internal(request, store.services, reason="gave up")
    finally:
        worker.join()
    [a] = outcomes
    assert internal is not None and a is not None
    assert (a.receipt_id, a.status, a.location) == (internal.receipt_id, "rejected", internal.location)
    [stored] = store.stored_decisions()
    assert [e["code"] for e in stored.document["errors"]] == ["INTERNAL"]
    assert_settled(store)


class FingerprintStalls:
    """The store, except that the give-up path's copy of the package is made and then
    ``meanwhile()`` runs (another worker, start to finish) before it is fingerprinted."""

    def __init__(self, store: Any, meanwhile: Callable[[], None]) -> None:
        self._store, self._meanwhile = store, meanwhile

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def local_package(self, claim: Any, work_dir: Path) -> Path:
        copy = work_dir / "stalled.zip"
        work_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._store.local_package(claim, work_dir), copy)
        self._meanwhile()
        return copy


def test_internal_stores_a_decision_recorded_while_it_worked_not_its_own(store: StoreHarness):
    request = store.drop("overtaken.zip", small_zip("overtaken"))
    overtaking: list[Outcome | None] = []
    stalling = dataclasses.replace(store.services, store=FingerprintStalls(
        store.services.store, lambda: overtaking.append(ingest(request, store.services))))
    internal = quarantine_internal(request, stalling, reason="gave up")
    [a] = overtaking
    assert a is not None and a.status == "accepted"
    assert internal is not None and (internal.receipt_id, internal.status, internal.location) == (
        a.receipt_id, "accepted", a.location)
    [stored] = store.stored_decisions()
    assert stored.area == "archive" and stored.document["errors"] == []
    assert_settled(store)


# -- stuck requests ----------------------------------------------------------------------------

def test_stuck_requests_resend_lost_messages_and_orphaned_claims_once_per_period(store: StoreHarness,
                                                                                  tmp_path: Path):
    services = store.services
    waiting = store.drop("waiting.zip", small_zip("w"))
    never = store.drop("never.zip", small_zip("n"))  # not enqueued yet: the watcher's to judge
    services.ledger.mark_enqueued(waiting.version, 1000.0, 300)
    # an orphaned claim: its worker died after claiming, no lease, enqueued long ago
    orphan = store.drop("orphan.zip", small_zip("o"))
    with pytest.raises(InjectedFault):
        ingest(orphan, failing_at(services, "after_claim", tmp_path))
    services.ledger.mark_enqueued(orphan.version, 1000.0, 300)

    assert stuck_requests(services, [waiting, never], now=1000.0 + 299) == []
    assert sorted(stuck_requests(services, [waiting, never], now=1000.0 + 301), key=str) == sorted(
        [orphan, waiting], key=str)
    assert stuck_requests(services, [waiting, never], now=1000.0 + 302) == []  # once per period
    assert sorted(stuck_requests(services, [waiting, never], now=1000.0 + 602), key=str) == sorted(
        [orphan, waiting], key=str)


# -- the journal: what must survive a loss of Redis's data -------------------------------------

def test_the_journal_keeps_records_by_name_and_lists_a_folder(store: StoreHarness):
    s = store.services.store
    assert s.get_record("announce/R20261206-00000001.json") is None and s.list_records("announce") == []
    s.put_record("announce/R20261206-00000001.json", b'{"n": 1}')
    s.put_record("announce/R20261206-00000002.json", b'{"n": 2}')
    s.put_record("mail/R20261206-00000001.json", b'{"state": "sent"}')
    s.put_record("announce/R20261206-00000002.json", b'{"n": 3}')  # replaced
    listed = s.list_records("announce")
    assert [(r.name, r.data) for r in listed] == [("announce/R20261206-00000001.json", b'{"n": 1}'),
                                                  ("announce/R20261206-00000002.json", b'{"n": 3}')]
    record = s.get_record("mail/R20261206-00000001.json")
    assert record is not None and record.data == b'{"state": "sent"}' and record.written_at.tzinfo is not None
    s.delete_record("announce/R20261206-00000001.json")
    s.delete_record("announce/R20261206-00000001.json")  # twice: no error
    assert [r.name for r in s.list_records("announce")] == ["announce/R20261206-00000002.json"]
    for bad in ("../x", "announce/../../x", "/etc/passwd", "announce/a/b", "Announce/x"):
        with pytest.raises(StoreError):
            s.put_record(bad, b"x")


def test_the_journal_is_no_decision(store: StoreHarness):
    """Records beside the decisions are never taken for stored decisions."""
    request = store.drop("j.zip", small_zip("j"))
    outcome = ingest(request, store.services)
    store.services.store.put_record("announce/R20261206-00000009.json", b"{}")
    assert [d.document["receipt_id"] for d in store.stored_decisions()] == [outcome.receipt_id]
    assert store.services.store.location_of(store.services.store.read_document(outcome.location)) == outcome.location
