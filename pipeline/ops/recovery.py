"""Restoring what Redis holds after Redis came back empty.

Redis is a fast index over the store; what must survive lives in the store's documents
and journal (pipeline/intake/store.py). When Redis loses its data (an AOF deleted, a new
Redis, a fail-over without persistence), nothing there says so by itself. So the first
pipeline process to find a Redis without the key ``<ns>:epoch`` restores it:

1. it takes a lease in Redis (``lease:restore``: one restorer at a time; the others go on
   watching). The lease lasts LOCK_SECONDS and is renewed while the restorer reads; a
   lease left by a process of this host that is gone (killed, or stopped together with
   Redis, whose saved data keeps the lease) is taken over at once — acceptances wait
   for the restore, so a stale lease would hold every package back until it expired,
2. reads every stored decision once: the earliest acceptance of each package's bytes is
   recorded again (``accepted:<sha256>`` and its size in ``accepted-sizes``, duplicate
   detection),
3. writes a new epoch id to the journal (``redis-epoch``) and then to Redis.

The journal's epoch tells a loss from a first start: a Redis without an epoch while the
journal has one lost its data, which is logged at error level (``redis.data_lost``),
with the restore's progress (``redis.restore_progress``) and its end
(``redis.restored``). Until the epoch is set no worker records an acceptance (the ledger
refuses, the package waits: pipeline/intake/ledger.py), so a re-upload of accepted bytes
is never accepted twice. The rest is found by the usual scans: undecided uploads are
still in the inbox or ``claimed/``, and decisions not yet mailed are in the journal's
``announce/`` (pipeline/intake/announcements.py).
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any, Callable, Iterator

import structlog

from pipeline.check.documents import ACCEPTED
from pipeline.check.progress import ProgressLog
from pipeline.intake.inventory import Inventory, documents
from pipeline.intake.ledger import RedisLedger
from pipeline.intake.scratch import held_by_dead_process, worker_identity
from pipeline.intake.store import Store
from pipeline.catalogue.decisions import decided_ts

#: the journal record of the epoch of the Redis the pipeline last restored
EPOCH_RECORD = "redis-epoch"
#: the restorer's lease (the ledger's ``lease:<name>``), renewed while it reads the documents
LEASE_NAME = "restore"
LOCK_SECONDS = 30
#: how often the restorer renews its lease while reading
RENEW_EVERY_SECONDS = 5.0


class RedisRestore:
    """Finds a Redis without an epoch and restores it from the store (module docstring)."""

    def __init__(self, *, store: Store, inventory: Inventory, ledger: RedisLedger,
                 clock: Callable[[], datetime]) -> None:
        self.store = store
        self.inventory = inventory
        self.ledger = ledger
        self.clock = clock

    def ensure(self) -> dict[str, Any] | None:
        """Restore Redis if it has no epoch (and no other process is restoring it).
        Returns the restore's facts, or None when there was nothing to do here."""
        if self.ledger.epoch() is not None:
            return None
        holder = f"{worker_identity()}-{uuid.uuid4().hex[:8]}"
        if not self._take_lease(holder):
            return None
        try:
            if self.ledger.epoch() is not None:  # restored meanwhile by the lease's last holder
                return None
            return self._restore(lambda: self.ledger.renew_lease(LEASE_NAME, holder, LOCK_SECONDS))
        finally:
            self.ledger.release_lease(LEASE_NAME, holder)

    def _take_lease(self, holder: str) -> bool:
        if self.ledger.acquire_lease(LEASE_NAME, holder, LOCK_SECONDS):
            return True
        previous = self.ledger.lease_holder(LEASE_NAME) or ""
        if not held_by_dead_process(previous):
            return False
        self.ledger.release_lease(LEASE_NAME, previous)  # its holder is gone: take over
        return self.ledger.acquire_lease(LEASE_NAME, holder, LOCK_SECONDS)

    def _restore(self, renew: Callable[[], bool]) -> dict[str, Any]:
        log = structlog.get_logger()
        last = self.store.get_record(EPOCH_RECORD)
        lost = last is not None
        if lost:
            log.error("redis.data_lost", last_epoch=last.data.decode("utf-8", "replace"),
                      last_epoch_written_at=last.written_at.isoformat(timespec="seconds"),
                      action="nothing to do by hand: duplicate detection is being "
                             "restored from the stored decisions (the catalogue database keeps the rest); undecided uploads and unmailed decisions "
                             "are found by the next scans")
        else:
            log.info("redis.initialising", note="no epoch in Redis nor in the journal: a first start")
        started = time.monotonic()
        progress = ProgressLog("redis.restore_progress", None, every=1000, seconds=10.0)
        earliest: dict[str, tuple[float, str]] = {}
        sizes: dict[str, int | None] = {}

        renewed = time.monotonic()

        def read_all() -> Iterator[tuple[str, dict[str, Any]]]:
            nonlocal renewed
            for location, document in documents(self.inventory):
                progress.step()
                if time.monotonic() - renewed > RENEW_EVERY_SECONDS:  # still alive: keep the lease
                    renew()
                    renewed = time.monotonic()
                if document.get("status") == ACCEPTED:
                    sha256 = (document.get("package") or {}).get("sha256")
                    when = (decided_ts(document), document["receipt_id"])
                    if sha256 and (sha256 not in earliest or when < earliest[sha256]):
                        earliest[sha256] = when
                        sizes[sha256] = (document.get("package") or {}).get("size")
                yield location, document

        seen = sum(1 for _ in read_all())
        for sha256, (_, receipt_id) in earliest.items():
            self.ledger.restore_acceptance(sha256, receipt_id, sizes.get(sha256))
        epoch = f"{self.clock().isoformat(timespec='seconds')}-{uuid.uuid4().hex[:12]}"
        # the journal first: a crash between the two writes shows as a loss next time
        # (a false alarm, and the same harmless restore), never as a quiet first start
        self.store.put_record(EPOCH_RECORD, epoch.encode("utf-8"))
        self.ledger.set_epoch(epoch)
        facts = {"epoch": epoch, "lost": lost, "documents": seen, "acceptances": len(earliest),
                 "seconds": round(time.monotonic() - started, 3)}
        if lost:  # the loss stays visible at error level to its end
            log.error("redis.restored", epoch=epoch, lost=lost, documents=facts["documents"],
                      acceptances=facts["acceptances"], seconds=facts["seconds"])
        else:
            log.info("redis.restored", epoch=epoch, lost=lost, documents=facts["documents"],
                     acceptances=facts["acceptances"], seconds=facts["seconds"])
        return facts
