"""The watcher process (``pipeline watch``): the inbox watcher of the store in use (a
folder, or the S3 inbox bucket) handing each finished upload to the workers once
(:class:`pipeline.intake.handover.Handover`), and the metrics endpoint when enabled."""

from __future__ import annotations

import time
from typing import Any

import structlog

from pipeline.app.compose import Composition
from pipeline.app.stopping import wait_for_stop
from pipeline.check.documents import local_zone
from pipeline.intake.folder_watch import InboxFile, InboxWatcher, scan_inbox
from pipeline.intake.handover import Handover
from pipeline.intake.uploads import IngestRequest
from pipeline.notify.mailer import FINAL_STATES
from workers.broker import waiting_messages
from workers.queues import DECISIONS, MAIL, PACKAGES


def handover(composition: Composition, logger: Any) -> Handover:
    """Versions sent once through the broker; stuck ones re-sent when the queue is idle."""

    def queue_idle() -> bool:
        """No package message waits unfetched: one for a file still in the inbox is lost."""
        return waiting_messages(composition.broker, PACKAGES) == 0

    def mail_in_flight(receipt_id: str) -> bool:
        """A decision's mail is on its way: follow-up messages wait in their queues (a
        backlog: it is most likely just not reached yet), or an attempt holds the send
        or waits for its retry. A final send record is not in flight: the decision is
        sent on so its announcement record is settled."""
        broker = composition.broker
        if waiting_messages(broker, DECISIONS) or waiting_messages(broker, MAIL):
            return True
        record = composition.send_records.get(receipt_id)
        if record is None or record.get("state") in FINAL_STATES:
            return False
        now, grace = time.time(), composition.settings.requeue_after
        if record.get("state") in ("claimed", "data"):
            # an attempt holds the send until its claim expires; past that its worker died
            # or lost its message (Redis went away mid-attempt): the next attempt decides
            # (a send past DATA becomes "unknown", never a second mail)
            return now < float(record.get("expires") or 0) + grace
        # a retry waits at most mail_max_backoff_ms for its next attempt
        quiet_for = now - float(record.get("at") or 0)
        return quiet_for < composition.settings.mail_max_backoff_ms / 1000 + grace

    return Handover(composition.services, composition.send_ingest, logger, queue_idle=queue_idle,
                    announce=composition.send_decided, mail_in_flight=mail_in_flight)


def folder_watcher(composition: Composition, logger: Any) -> InboxWatcher:
    """The inbox folder's watcher (started by the caller)."""
    s = composition.settings
    hand = handover(composition, logger)

    def offer(found: InboxFile) -> None:
        hand.offer(IngestRequest(found.relative, found.size, str(found.mtime_ns)))

    restore = composition.redis_restore()

    def recover() -> None:
        if restore is not None:  # a Redis that came back empty first (pipeline/ops/recovery.py)
            restore.ensure()
        hand.recover(lambda: [IngestRequest(f.relative, f.size, str(f.mtime_ns)) for f in scan_inbox(s.inbox_dir)])

    return InboxWatcher(s.inbox_dir, offer, quiet_period=s.quiet_period, stale_upload_timeout=s.stale_upload_timeout,
                        folder_quiet_period=s.folder_quiet_period, faults=composition.faults,
                        zone=local_zone(s.utc_offset_hours),
                        scan_interval=s.scan_interval, on_scan=recover, logger=logger,
                        rehand_after=s.requeue_after, may_rehand=hand.queue_idle)


def bucket_watcher(composition: Composition, logger: Any, hand: Handover | None = None) -> Any:
    """The S3 inbox bucket's watcher (started by the caller)."""
    from pipeline.intake.bucket_uploads import BucketPacker  # minio: only with an S3 inbox
    from pipeline.intake.bucket_watch import BucketWatcher
    from pipeline.intake.s3_store import S3Store

    store = composition.store
    assert isinstance(store, S3Store)
    hand = hand or handover(composition, logger)

    restore = composition.redis_restore()

    def recover(listing: list[IngestRequest]) -> None:
        if restore is not None:  # a Redis that came back empty first (pipeline/ops/recovery.py)
            restore.ensure()
        hand.recover(lambda: listing)

    s = composition.settings
    # folders and loose files uploaded key by key: packed into one ZIP each (issue 15),
    # the ZIP written under the work area (local, like the workers' scratch)
    packer = BucketPacker(store.client, store.inbox_bucket, store.inbox_prefix, store.ledger, s.work_dir, logger,
                          faults=composition.faults, stale_multipart_after=s.stale_upload_timeout,
                          zone=local_zone(s.utc_offset_hours))
    return BucketWatcher(store.client, store.inbox_bucket, store.inbox_prefix, hand.offer,
                         scan_interval=s.scan_interval, use_notifications=True,
                         on_scan=recover, logger=logger, packer=packer,
                         folder_quiet_period=s.folder_quiet_period, stale_upload_timeout=s.stale_upload_timeout)


def run(composition: Composition) -> int:
    """Watch until SIGTERM/SIGINT."""
    log = structlog.get_logger().bind(process="watcher")
    composition.serve_metrics()  # PIPELINE_METRICS_PORT: this process offers the endpoint too
    watcher: Any = (bucket_watcher(composition, log) if composition.settings.storage == "s3"
                    else folder_watcher(composition, log))
    watcher.start()
    wait_for_stop()
    watcher.stop()
    return 0

