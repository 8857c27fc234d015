"""The watcher's side of "enqueued once": hand each upload version to the workers once
across watchers and restarts, and hand over again what got stuck.

Both watchers (the folder one, pipeline/intake/folder_watch.py, and the bucket one,
pipeline/intake/bucket_watch.py) find versions; this decides whether a version is sent:
it is recorded in the ledger set-if-absent first (``mark_enqueued``), so two watchers,
or a watcher restarted, send it once. Each scan re-sends claims no worker holds and,
when no package message waits unfetched in the queue, inbox versions whose message was
lost (:func:`pipeline.intake.deciding.stuck_requests`), and stored decisions whose
announcement or mail Redis lost (:meth:`Handover.recover_announcements`).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from pipeline.intake import announcements
from pipeline.intake.deciding import Services, stuck_requests
from pipeline.intake.uploads import IngestRequest, readable


class Handover:
    def __init__(self, services: Services, send: Callable[[dict[str, Any]], None], logger: Any,
                 queue_idle: Callable[[], bool] = lambda: True,
                 announce: Callable[[dict[str, Any]], None] | None = None,
                 mail_in_flight: Callable[[str], bool] = lambda receipt_id: True) -> None:
        """``send`` asks a worker to decide an upload (an IngestRequest's JSON);
        ``queue_idle()`` says that no package message waits unfetched in the queue;
        ``announce`` sends a stored decision's outcome on again (its follow-up message was
        lost), unless ``mail_in_flight(receipt_id)``: its mail is under way or queued."""
        self.services = services
        self.send = send
        self.log = logger
        self.queue_idle = queue_idle
        self.announce = announce
        self.mail_in_flight = mail_in_flight

    def offer(self, request: IngestRequest) -> None:
        """Send ``request`` unless this version was sent before (by any watcher)."""
        if self.services.ledger.mark_enqueued(request.version, time.time(), self.services.requeue_after):
            self.send(request.to_json())
            self.log.info("watcher.enqueued", source=readable(request.location), account=request.account,
                          size=request.size, version=request.version)
        else:
            self.log.info("watcher.already_enqueued", source=readable(request.location), version=request.version)

    def recover(self, list_inbox: Callable[[], Iterable[IngestRequest]]) -> None:
        """Re-send stuck requests: orphaned claims always; inbox versions (``list_inbox()``,
        called only then) only while the queue is idle — during a backlog a file's message
        is most likely just not reached yet. A version a worker holds a lease on is being
        decided (an S3 object stays in the inbox meanwhile): not stuck."""
        ledger = self.services.ledger
        inbox = ([r for r in list_inbox() if ledger.lease_holder(r.version) is None]
                 if self.queue_idle() else [])
        for request in stuck_requests(self.services, inbox, time.time()):
            self.send(request.to_json())
            self.log.warning("watcher.requeued", source=readable(request.location), version=request.version)
        self.recover_announcements()

    def recover_announcements(self) -> None:
        """Send on the decisions stored but never settled by a mail (the journal's
        ``announce/`` records, pipeline/intake/announcements.py) whose follow-up was
        lost: recorded more than ``requeue_after`` ago, no mail attempt under way, and
        not sent on within the last ``requeue_after`` by any watcher."""
        if self.announce is None:
            return
        services, now = self.services, time.time()
        records = announcements.pending(services.store)
        # the records' times are the store's (file or object times), not the decisions' clock
        for outcome in announcements.due(records, datetime.now(timezone.utc), services.requeue_after,
                                         self.mail_in_flight):
            rid = outcome["receipt_id"]
            if services.ledger.mark_enqueued(f"announce-{rid}", now, services.requeue_after):
                self.announce(outcome)
                self.log.warning("watcher.reannounced", receipt_id=rid, status=outcome.get("status"),
                                 location=outcome.get("location"),
                                 note="a stored decision's announcement or mail was lost; sent on again")
