"""The actors: thin. Each binds log context, calls one library function, sends the next
message. Arguments are JSON (paths and keys), never bytes.

Importing this module sets up the broker from the environment, so both the Dramatiq CLI
(``dramatiq workers.actors``) and ``pipeline worker`` can load it.
"""

from __future__ import annotations

import time
from typing import Any

import dramatiq
import structlog

from pipeline.intake.deciding import PackageBusy, ingest, quarantine_internal
from pipeline.notify.mail import MAIL_MAX_RETRIES, MAIL_QUEUE, MAIL_TIME_LIMIT_MS
from pipeline.ops.metrics import decision_increments
from pipeline.intake.store import IngestRequest
from pipeline.app.compose import runtime

QUEUE = "packages"
settings = runtime.settings


@dramatiq.actor(queue_name=QUEUE, max_retries=settings.max_retries, min_backoff=settings.min_backoff_ms,
                max_backoff=settings.max_backoff_ms, time_limit=settings.package_time_limit_ms,
                on_retry_exhausted="package_failed")
def ingest_package(request: dict[str, Any]) -> None:
    """Decide one upload; announce the decision."""
    parsed = IngestRequest.from_json(request)
    started = time.monotonic()
    with structlog.contextvars.bound_contextvars(source=parsed.location, version=parsed.version):
        try:
            outcome = ingest(parsed, runtime.services())
        except PackageBusy as busy:
            # Another worker holds the package (maybe a dead one whose lease still runs):
            # look again later, without spending one of the package's retries.
            ingest_package.send_with_options(args=(request,), delay=int(busy.retry_after_s * 1000) + 500)
            return
        if outcome is not None:
            # duration_s: this attempt's time to the stored decision (the metrics' histogram)
            package_decided.send({**outcome.to_json(), "duration_s": round(time.monotonic() - started, 3)})


@dramatiq.actor(queue_name=QUEUE, max_retries=50, min_backoff=5_000, max_backoff=600_000)
def package_failed(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    """An upload's processing failed after all retries: quarantine it as INTERNAL."""
    parsed = IngestRequest.from_json(message["args"][0])
    reason = (message.get("options", {}).get("traceback") or "").strip().splitlines()[-1:] or ["unknown"]
    with structlog.contextvars.bound_contextvars(source=parsed.location, version=parsed.version):
        outcome = quarantine_internal(parsed, runtime.services(), reason=reason[0][:500])
        if outcome is not None:
            package_decided.send(outcome.to_json())


@dramatiq.actor(queue_name="decisions", max_retries=20)
def package_decided(outcome: dict[str, Any]) -> None:
    """A decision is stored: index it (and count it, once), announce it and ask for its
    receipt mail."""
    document = runtime.services().store.read_document(outcome["location"])
    runtime.index().record(document, outcome["location"],
                           count=decision_increments(document, outcome.get("duration_s")))
    structlog.get_logger().info("decision.announced", receipt_id=outcome["receipt_id"],
                                status=outcome["status"], location=outcome["location"])
    send_receipt.send(outcome)


@dramatiq.actor(queue_name=MAIL_QUEUE, max_retries=MAIL_MAX_RETRIES, min_backoff=settings.mail_min_backoff_ms,
                max_backoff=settings.mail_max_backoff_ms, time_limit=MAIL_TIME_LIMIT_MS,
                on_retry_exhausted="receipt_mail_failed")
def send_receipt(outcome: dict[str, Any]) -> None:
    """Mail the receipt of a stored decision, exactly once (pipeline/notify/mail.py). Raises on
    a definite failure, so Dramatiq retries; an unknown outcome is logged, never resent."""
    with structlog.contextvars.bound_contextvars(receipt_id=outcome["receipt_id"]):
        runtime.mailer().deliver(outcome)


@dramatiq.actor(queue_name=MAIL_QUEUE, max_retries=0)
def receipt_mail_failed(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    """A receipt could not be sent after all retries: tell the operator."""
    outcome = message["args"][0]
    structlog.get_logger().error("mail.gave_up", receipt_id=outcome["receipt_id"], status=outcome["status"],
                                 location=outcome["location"], retries=retry_info.get("retries"),
                                 action="fix the mail settings, then forward the receipt by hand")
    runtime.counters().mail("gave_up")
