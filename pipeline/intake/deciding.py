"""Deciding one upload: claim, assess, decide once, store. What the ingest actor calls.

Every function here is safe to run twice, concurrently or after a crash at any point:
the claim is found again, the first recorded decision of a package version stands,
and a half-done move is finished rather than redone.
"""

from __future__ import annotations

import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import structlog

from pipeline.check.assess import assess, package_fingerprint
from pipeline.check.catalogue import problem
from pipeline.check.documents import REJECTED, Findings, build_document, new_receipt_id
from pipeline.check.integrity import IntegrityLookup, PackageFacts, integrity_check
from pipeline.check.policy import Policy
from pipeline.check.rules import default_checks
from pipeline.check.view import Check
from pipeline.intake import announcements, package_facts
from pipeline.intake.disk_space import DISK_FULL_RETRY_SECONDS, DiskFullReports, disk_full_cause
from pipeline.intake.faults import NO_FAULTS, FaultPoints
from pipeline.intake.ledger import Ledger
from pipeline.intake.scratch import worker_identity
from pipeline.intake.store import Store
from pipeline.intake.uploads import Claim, IngestRequest, readable


class HeldLeases:
    """The leases this process holds right now (thread-safe), so that a clean stop can
    release them: a package cut short by a stop is then taken up again at once, instead
    of after its lease runs out (:func:`release_held_leases`)."""

    def __init__(self) -> None:
        self._held: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def add(self, version: str, holder: str) -> None:
        with self._lock:
            self._held.add((version, holder))

    def discard(self, version: str, holder: str) -> None:
        with self._lock:
            self._held.discard((version, holder))

    def take_all(self) -> list[tuple[str, str]]:
        with self._lock:
            held, self._held = sorted(self._held), set()
        return held


@dataclass(frozen=True)
class Services:
    """Everything a step needs, composed once at the entry point (pipeline/app/compose.py)."""

    policy: Policy
    store: Store
    ledger: Ledger
    clock: Callable[[], datetime]
    #: the zone of report dates and receipt ids (China Standard Time by default)
    zone: tzinfo
    #: where each attempt's scratch folder is made (removed when the attempt ends)
    work_dir: Path
    #: a worker's lease on a package it works on, in seconds (renewed while it works)
    lease_seconds: int = 60
    #: an enqueued but unclaimed upload, or an unleased claim, is sent again after this
    requeue_after: float = 300.0
    #: the checks to run; None: the contract's (pipeline.check.rules.default_checks), and
    #: with ``integrity`` the signals across packages
    checks: Sequence[Check] | None = None
    #: named places where the reliability tests crash or stall a worker (off by default)
    faults: FaultPoints = NO_FAULTS
    #: tells the operator of a full disk (once a minute); None: about ``work_dir`` only
    disk_reports: DiskFullReports | None = None
    #: the leases held by this process's threads (released on a clean stop)
    held_leases: HeldLeases = field(default_factory=HeldLeases)
    #: the accepted packages decided before (the catalogue), for the signals of spec
    #: section 10; None: no integrity check (nor facts for the catalogue)
    integrity: IntegrityLookup | None = None
    #: the keyed hash of an ID number (the catalogue's key); needed with ``integrity``
    person_key: Callable[[str], str] | None = None

    def now(self) -> datetime:
        return self.clock().astimezone(self.zone)


#: how long a package whose acceptance cannot be recorded yet waits before asking again
RESTORE_WAIT_SECONDS = 10.0


class PackageBusy(Exception):
    """Another worker holds the lease on this package version; ask again after
    ``retry_after_s`` seconds (when a dead holder's lease has expired)."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"package busy; retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Outcome:
    """The result of a decided package: what the follow-up message carries."""

    receipt_id: str
    status: str
    location: str
    version: str
    source: str
    errors: int
    warnings: int

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def mint_receipt_id(services: Services) -> str:
    while True:
        receipt_id = new_receipt_id(services.now())
        if services.ledger.reserve_receipt_id(receipt_id):
            return receipt_id


@contextmanager
def _lease(services: Services, version: str, holder: str) -> Iterator[bool]:
    """Hold the lease on a package version while working, renewing it in the background."""
    ledger, seconds = services.ledger, services.lease_seconds
    if not ledger.acquire_lease(version, holder, seconds):
        yield False
        return
    services.held_leases.add(version, holder)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(max(1.0, seconds / 3)):
            try:
                ledger.renew_lease(version, holder, seconds)
            except Exception:  # a blip must not kill the work; the lease may lapse
                structlog.get_logger().warning("lease.renew_failed", version=version)

    thread = threading.Thread(target=renew, name=f"lease-{version}", daemon=True)
    thread.start()
    try:
        yield True
    finally:
        stop.set()
        thread.join(timeout=5)
        services.held_leases.discard(version, holder)
        try:
            ledger.release_lease(version, holder)
        except Exception:
            structlog.get_logger().warning("lease.release_failed", version=version)


def release_held_leases(services: Services) -> list[str]:
    """On a clean stop, after the worker threads were given their grace: release the
    leases of packages still being worked on (their threads die with the process), so the
    next worker takes them up at once. Returns the versions released."""
    released = []
    for version, holder in services.held_leases.take_all():
        try:
            services.ledger.release_lease(version, holder)
            released.append(version)
        except Exception:
            structlog.get_logger().warning("lease.release_failed", version=version)
    if released:
        structlog.get_logger().info("lease.released_at_stop", versions=released)
    return released


def _outcome(claim: Claim, document: dict[str, Any], location: str) -> Outcome:
    return Outcome(receipt_id=document["receipt_id"], status=document["status"], location=location,
                   version=claim.version, source=readable(claim.request.location),
                   errors=len(document["errors"]), warnings=len(document["warnings"]))


def _finalize(claim: Claim, document: dict[str, Any], services: Services, source: str) -> Outcome:
    """Store the decision and release the claim. Between the two, the journal records
    that the decision is still to be announced (pipeline/intake/announcements.py): from
    the moment the claim is gone, that record is what finds an unannounced decision."""
    store = services.store
    outcome = _outcome(claim, document, store.location_of(document))

    def before_release() -> None:
        announcements.remember(store, outcome.to_json())
        services.faults.hit("before_release", source)

    location = store.finalize(claim, document, before_release=before_release)
    if location != outcome.location:  # the store's two answers must agree: the journal holds the first
        raise RuntimeError(f"store put {claim.version} at {location}, expected {outcome.location}")
    return outcome


def _claim(request: IngestRequest, services: Services) -> Claim | None:
    return services.store.claim(request, lambda: mint_receipt_id(services), services.now())


def known_duplicate(claim: Claim, zip_path: Path, services: Services, log: Any = None) -> dict[str, Any] | None:
    """The document of a package whose bytes were accepted before, decided from its
    SHA-256 alone without running the checks; None when it is not one (or cannot be
    told yet: then the checks run and the acceptance race below decides).

    Only an upload whose size some accepted package had (``Ledger.accepted_size``) is
    hashed here first, so other packages pay no extra pass over their bytes. The
    acceptance read is the ledger's earliest one, restored from the store after Redis
    lost its data (pipeline/ops/recovery.py); while that restore runs, nothing is
    known and the package takes the long way."""
    size = zip_path.stat().st_size
    if not services.ledger.accepted_size(size):
        return None
    size, sha256 = package_fingerprint(zip_path)
    first = services.ledger.known_acceptance(sha256)
    if first is None or first == claim.receipt_id:
        # not accepted; or accepted as this very claim by an attempt that died before
        # recording its decision: the checks run again and the acceptance stands
        return None
    (log or structlog.get_logger()).info("package.duplicate_known", duplicate_of=first, sha256=sha256, size=size)
    findings = Findings(package_name=claim.package_name, package_size=size, package_sha256=sha256,
                        policy_sha256=services.policy.sha256)
    return build_document(findings, receipt_id=claim.receipt_id, source=claim.source,
                          received_at=claim.received_at, decided_at=services.now(),
                          duplicate_of=first, supersedes=claim.supersedes)


def _checks(services: Services) -> tuple[Sequence[Check] | None, list[PackageFacts]]:
    """The checks to run and where the integrity check leaves the package's facts. The
    integrity check joins the contract's checks (``services.checks`` None) when there is a
    catalogue; checks chosen by hand (tests) run as chosen."""
    found: list[PackageFacts] = []
    if services.checks is not None or services.integrity is None or services.person_key is None:
        return services.checks, found
    return [*default_checks(), integrity_check(services.integrity, services.person_key, found)], found


def decide(claim: Claim, services: Services, work_dir: Path, log: Any = None) -> dict[str, Any]:
    """The claimed package's document (not yet recorded): a duplicate of bytes accepted
    before is known from its SHA-256 (:func:`known_duplicate`); any other package is
    assessed, every check run."""
    log = log or structlog.get_logger()
    zip_path = services.store.local_package(claim, work_dir)
    known = known_duplicate(claim, zip_path, services, log)
    if known is not None:
        return known
    log.info("package.checking", size=claim.request.size)
    now = services.now()
    checks, found = _checks(services)
    findings = assess(zip_path, claim.package_name, services.policy, work_dir / "package", now.date(),
                      checks=checks, uploaded_as=claim.source.uploaded_as)
    if found and not findings.errors:
        # an acceptable package's, before the decision is recorded: whichever attempt's decision stands, its facts are kept
        package_facts.remember(services.store, claim.receipt_id, found[0])
    duplicate_of = None
    if not findings.errors:
        first = services.ledger.first_acceptance(findings.package_sha256, claim.receipt_id,
                                                 size=findings.package_size)
        if first is None:
            # Redis came back empty and the acceptances are being restored from the archive
            # (pipeline/ops/recovery.py): deciding now could accept these bytes twice
            structlog.get_logger().warning("package.waiting_for_restore", receipt_id=claim.receipt_id)
            raise PackageBusy(RESTORE_WAIT_SECONDS)
        if first != claim.receipt_id:
            duplicate_of = first
    return build_document(findings, receipt_id=claim.receipt_id, source=claim.source,
                          received_at=claim.received_at, decided_at=services.now(),
                          duplicate_of=duplicate_of, supersedes=claim.supersedes)


def ingest(request: IngestRequest, services: Services) -> Outcome | None:
    """Decide one upload. None when there is nothing (left) to do for this message.

    A full disk (pipeline/intake/disk_space.py) raises :class:`PackageBusy`: the package
    waits, without spending a retry, and is never rejected for it."""
    try:
        return _ingest(request, services)
    except Exception as exc:
        cause = disk_full_cause(exc)
        if cause is None:
            raise
        (services.disk_reports or DiskFullReports(services.work_dir)).report(cause)
        structlog.get_logger().warning("package.waiting_for_space", source=readable(request.location),
                                       version=request.version, error=f"{type(cause).__name__}: {cause}"[:300])
        raise PackageBusy(DISK_FULL_RETRY_SECONDS) from exc


def _ingest(request: IngestRequest, services: Services) -> Outcome | None:
    log = structlog.get_logger().bind(version=request.version, source=readable(request.location))
    started = time.monotonic()
    claim = _claim(request, services)
    if claim is None:
        log.info("package.nothing_to_claim")
        return None
    log = log.bind(receipt_id=claim.receipt_id, account=claim.source.account)
    services.faults.hit("after_claim", request.location)
    holder = f"{worker_identity()}-{threading.get_ident()}"
    with _lease(services, claim.version, holder) as held:
        if not held:
            log.info("package.busy_elsewhere", holder=services.ledger.lease_holder(claim.version))
            # Not "nothing to do": the holder may be dead with its lease still running.
            # The caller asks again once the lease would have expired.
            raise PackageBusy(services.lease_seconds)
        document = services.ledger.decision(claim.version)
        if document is None and not services.store.holds_package(claim):
            log.warning("package.claim_without_package")  # moved on; nothing to decide
            services.store.abandon(claim)
            return None
        check_s: float | None = None  # the checks' share of duration_s (None: decided before)
        if document is None:
            work_dir = services.work_dir / f"{worker_identity()}-{claim.version}"
            try:
                # bound for the lines the checks log (media.progress) in this thread
                with structlog.contextvars.bound_contextvars(receipt_id=claim.receipt_id):
                    checking = time.monotonic()
                    candidate = decide(claim, services, work_dir, log)
                    check_s = round(time.monotonic() - checking, 3)
                services.faults.hit("after_assess", request.location)
                document = services.ledger.record_decision(claim.version, candidate)
            finally:
                shutil.rmtree(work_dir, ignore_errors=True)
            services.faults.hit("after_decision", request.location)
        else:
            log.info("package.finishing_recorded_decision", status=document["status"])
        outcome = _finalize(claim, document, services, request.location)
    location = outcome.location
    services.faults.hit("after_finalize", request.location)
    log.info("package.decided", status=outcome.status, errors=outcome.errors, warnings=outcome.warnings,
             location=location, duplicate_of=document.get("duplicate_of"), supersedes=document.get("supersedes"),
             error_codes=sorted({e["code"] for e in document["errors"]}),
             duration_s=round(time.monotonic() - started, 3), check_s=check_s)
    return outcome


def quarantine_internal(request: IngestRequest, services: Services, reason: str) -> Outcome | None:
    """The package's processing kept failing: quarantine it as INTERNAL, unless a
    decision was already recorded (then that one is finished: the first stands)."""
    log = structlog.get_logger().bind(version=request.version, source=readable(request.location))
    claim = _claim(request, services)
    if claim is None:
        log.error("package.internal_nothing_to_quarantine", reason=reason)
        return None
    log = log.bind(receipt_id=claim.receipt_id, account=claim.source.account)
    document = services.ledger.decision(claim.version)
    if document is None and not services.store.holds_package(claim):
        services.store.abandon(claim)
        log.error("package.internal_nothing_to_quarantine", reason=reason)
        return None
    if document is None:
        work_dir = services.work_dir / f"{worker_identity()}-{claim.version}-internal"
        try:
            size, sha256 = package_fingerprint(services.store.local_package(claim, work_dir))
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
        findings = Findings(package_name=claim.package_name, package_size=size, package_sha256=sha256,
                            policy_sha256=services.policy.sha256, problems=[problem("INTERNAL")])
        document = services.ledger.record_decision(claim.version, build_document(
            findings, receipt_id=claim.receipt_id, source=claim.source, received_at=claim.received_at,
            decided_at=services.now(), status=REJECTED, supersedes=claim.supersedes))
    outcome = _finalize(claim, document, services, request.location)
    log.error("package.internal", reason=reason, status=outcome.status, location=outcome.location)
    return outcome


def stuck_requests(services: Services, inbox_requests: list[IngestRequest], now: float) -> list[IngestRequest]:
    """Requests to send again: inbox files enqueued long ago but never claimed (a lost
    message), and claims no live worker holds (a worker died, its message was lost)."""
    ledger, after = services.ledger, services.requeue_after
    # Inbox files never enqueued are the watcher's to judge (they may still be uploading).
    out = [r for r in inbox_requests
           if ledger.last_enqueued(r.version) is not None and ledger.mark_enqueued(r.version, now, after)]
    for claim in services.store.pending_claims():
        if ledger.lease_holder(claim.version) is None and ledger.mark_enqueued(claim.version, now, after):
            out.append(claim.request)
    return out
