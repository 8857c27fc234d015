"""The actors: thin. Each binds log context, calls one library function and sends the
next message. Arguments are JSON (paths and keys), never bytes.

Nothing is declared at import: :class:`PipelineActors` declares the pipeline's actors on
the broker it is given, with the services the worker boot composed
(pipeline/app/worker.py, through the composition root pipeline/app/compose.py). A test
declares them on its own broker with its own services the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import dramatiq
import structlog
from dramatiq.brokers.redis import RedisBroker

from pipeline.catalogue.decisions import DecisionCatalogue
from pipeline.intake import announcements
from pipeline.intake.deciding import PackageBusy, Services, ingest, quarantine_internal
from pipeline.intake.uploads import IngestRequest, readable
from pipeline.notify.mailer import FINAL_STATES, MAIL_MAX_RETRIES, MAIL_TIME_LIMIT_MS, Mailer
from pipeline.ops.catalogue_tasks import record_decision
from pipeline.ops.metrics import Counters, decision_increments
from pipeline.intake.scratch import worker_identity
from pipeline.intake.self_checks import SelfChecks
from workers.queues import DECISIONS, INGEST_PACKAGE, MAIL, PACKAGE_DECIDED, PACKAGES, SELF_CHECK, SELF_CHECKS


class WorkerServices(Protocol):
    """What the actors use, built once per worker process on first use."""

    @property
    def services(self) -> Services: ...
    @property
    def catalogue(self) -> DecisionCatalogue: ...
    @property
    def mailer(self) -> Mailer: ...
    @property
    def counters(self) -> Counters: ...
    @property
    def self_checks(self) -> SelfChecks: ...


@dataclass(frozen=True)
class ActorOptions:
    """The actors' retry and time limits (from the settings)."""

    max_retries: int
    min_backoff_ms: int
    max_backoff_ms: int
    package_time_limit_ms: int
    mail_min_backoff_ms: int
    mail_max_backoff_ms: int


class PipelineActors:
    """The pipeline's actors, declared on one broker."""

    def __init__(self, broker: RedisBroker, services: WorkerServices, options: ActorOptions) -> None:
        self._services = services
        declare = partial(dramatiq.actor, broker=broker)
        self.ingest_package = declare(
            self._ingest_package, actor_name=INGEST_PACKAGE, queue_name=PACKAGES,
            max_retries=options.max_retries, min_backoff=options.min_backoff_ms,
            max_backoff=options.max_backoff_ms, time_limit=options.package_time_limit_ms,
            on_retry_exhausted="package_failed")
        self.package_failed = declare(self._package_failed, actor_name="package_failed", queue_name=PACKAGES,
                                      max_retries=50, min_backoff=5_000, max_backoff=600_000)
        self.package_decided = declare(self._package_decided, actor_name=PACKAGE_DECIDED,
                                       queue_name=DECISIONS, max_retries=20)
        self.send_receipt = declare(
            self._send_receipt, actor_name="send_receipt", queue_name=MAIL, max_retries=MAIL_MAX_RETRIES,
            min_backoff=options.mail_min_backoff_ms, max_backoff=options.mail_max_backoff_ms,
            time_limit=MAIL_TIME_LIMIT_MS, on_retry_exhausted="receipt_mail_failed")
        self.receipt_mail_failed = declare(self._receipt_mail_failed, actor_name="receipt_mail_failed",
                                           queue_name=MAIL, max_retries=0)
        self.self_check = declare(self._self_check, actor_name=SELF_CHECK, queue_name=SELF_CHECKS,
                                  max_retries=2, time_limit=options.package_time_limit_ms)

    def _ingest_package(self, request: dict[str, Any]) -> None:
        """Decide one upload; announce the decision."""
        parsed = IngestRequest.from_json(request)
        started = time.monotonic()
        with structlog.contextvars.bound_contextvars(source=readable(parsed.location), version=parsed.version):
            try:
                outcome = ingest(parsed, self._services.services)
            except PackageBusy as busy:
                # Another worker holds the package (maybe a dead one whose lease still runs):
                # look again later, without spending one of the package's retries.
                self.ingest_package.send_with_options(args=(request,), delay=int(busy.retry_after_s * 1000) + 500)
                return
            if outcome is not None:
                # duration_s: this attempt's time to the stored decision (the metrics' histogram)
                self.package_decided.send({**outcome.to_json(), "duration_s": round(time.monotonic() - started, 3)})

    def _package_failed(self, message: dict[str, Any], retry_info: dict[str, Any]) -> None:
        """An upload's processing failed after all retries: quarantine it as INTERNAL."""
        parsed = IngestRequest.from_json(message["args"][0])
        reason = (message.get("options", {}).get("traceback") or "").strip().splitlines()[-1:] or ["unknown"]
        with structlog.contextvars.bound_contextvars(source=readable(parsed.location), version=parsed.version):
            outcome = quarantine_internal(parsed, self._services.services, reason=reason[0][:500])
            if outcome is not None:
                self.package_decided.send(outcome.to_json())

    def _package_decided(self, outcome: dict[str, Any]) -> None:
        """A decision is stored: record it in the catalogue (counted once, with an accepted
        package's facts, written once), announce it and ask for its receipt mail."""
        record_decision(self._services.services.store, self._services.catalogue, outcome["receipt_id"],
                        outcome["location"], count=partial(decision_increments, duration_s=outcome.get("duration_s")))
        structlog.get_logger().info("decision.announced", receipt_id=outcome["receipt_id"],
                                    source=outcome.get("source"), status=outcome["status"],
                                    location=outcome["location"])
        self.send_receipt.send(outcome)

    def _send_receipt(self, outcome: dict[str, Any]) -> None:
        """Mail the receipt of a stored decision, exactly once (pipeline/notify/mailer.py).
        Raises on a definite failure, so Dramatiq retries; an unknown outcome is logged,
        never resent."""
        # every mail line carries the package's source as the package.* lines write it
        with structlog.contextvars.bound_contextvars(receipt_id=outcome["receipt_id"], source=outcome.get("source")):
            state = self._services.mailer.deliver(outcome)
            if state in FINAL_STATES:
                announcements.settle(self._services.services.store, outcome["receipt_id"])

    def _self_check(self, check_id: str) -> None:
        """Check a clerk's self-check ZIP from the web (自查，未上报): the checks of
        ``pipeline check``; nothing is recorded but its report."""
        with structlog.contextvars.bound_contextvars(self_check=check_id):
            services = self._services.services
            document = self._services.self_checks.run(
                check_id, services.policy, services.work_dir / f"{worker_identity()}-self-check-{check_id}",
                services.now)
            if document is not None:
                structlog.get_logger().info("self_check.done", status=document["status"],
                                            errors=len(document["errors"]), warnings=len(document["warnings"]))

    def _receipt_mail_failed(self, message: dict[str, Any], retry_info: dict[str, Any]) -> None:
        """A receipt could not be sent after all retries: tell the operator."""
        outcome = message["args"][0]
        structlog.get_logger().error("mail.gave_up", receipt_id=outcome["receipt_id"], source=outcome.get("source"),
                                     status=outcome["status"],
                                     location=outcome["location"], retries=retry_info.get("retries"),
                                     action="fix the mail settings, then forward the receipt by hand")
        self._services.counters.mail("gave_up")
        announcements.settle(self._services.services.store, outcome["receipt_id"])
