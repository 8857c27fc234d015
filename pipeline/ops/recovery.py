"""Restoring what Redis holds after Redis came back empty.

Redis is a fast index over the store; what must survive lives in the store's documents
and journal (pipeline/intake/store.py). When Redis loses its data (an AOF deleted, a new
Redis, a fail-over without persistence), nothing there says so by itself. So the first
pipeline process to find a Redis without the key ``<ns>:epoch`` restores it:

1. it takes a lock in Redis (one restorer at a time; the others go on watching),
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

import os
import socket
import time
import uuid
from datetime import datetime
from typing import Any, Callable, Iterator

import redis
import structlog

from pipeline.check.documents import ACCEPTED
from pipeline.check.progress import ProgressLog
from pipeline.intake.inventory import Inventory, documents
from pipeline.intake.ledger import RedisLedger
from pipeline.intake.store import Store
from pipeline.catalogue.decisions import decided_ts

#: the journal record of the epoch of the Redis the pipeline last restored
EPOCH_RECORD = "redis-epoch"
#: the restorer's lock, renewed while it reads the documents
LOCK_SECONDS = 60


class RedisRestore:
    """Finds a Redis without an epoch and restores it from the store (module docstring)."""

    def __init__(self, *, client: redis.Redis, namespace: str, store: Store, inventory: Inventory,
                 ledger: RedisLedger, clock: Callable[[], datetime]) -> None:
        self.client = client
        self.lock_key = f"{namespace}:restore-lock"
        self.store = store
        self.inventory = inventory
        self.ledger = ledger
        self.clock = clock

    def ensure(self) -> dict[str, Any] | None:
        """Restore Redis if it has no epoch (and no other process is restoring it).
        Returns the restore's facts, or None when there was nothing to do here."""
        if self.ledger.epoch() is not None:
            return None
        holder = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        if not self.client.set(self.lock_key, holder, nx=True, ex=LOCK_SECONDS):
            return None
        try:
            if self.ledger.epoch() is not None:  # restored meanwhile by the lock's last holder
                return None
            return self._restore()
        finally:
            if self.client.get(self.lock_key) == holder:
                self.client.delete(self.lock_key)

    def _restore(self) -> dict[str, Any]:
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

        def read_all() -> Iterator[tuple[str, dict[str, Any]]]:
            for location, document in documents(self.inventory):
                progress.step()
                if progress.done % 200 == 0:  # still alive: keep the lock
                    self.client.expire(self.lock_key, LOCK_SECONDS)
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
