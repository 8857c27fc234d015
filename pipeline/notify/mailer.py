"""Receipt mails: one Chinese mail per decision, never two.

Three parts:

- :func:`~pipeline.notify.message.build_receipt_mail` turns a stored decision document
  into the mail (subject, plain text + HTML, the document attached), addressed with the
  institution registry (:mod:`pipeline.notify.registry`).
- :class:`~pipeline.notify.transport.SmtpTransport` /
  :class:`~pipeline.notify.transport.OutboxTransport` deliver it: to the server named by
  ``SMTP_URL``, or, with no ``SMTP_URL``, as an ``.eml`` file under ``DATA/outbox/``.
- :class:`Mailer` (this module) sends with exactly-once semantics, arbitrated by a small
  record per receipt in Redis (:class:`~pipeline.notify.records.SendRecords`).

The states of one send (Redis key ``<namespace>:mail:<receipt id>``)::

    (absent) ─claim─> claimed ─before DATA─> data ─250─> sent
                 ^       │                     │
                 │       │ definite failure    ├─ no reply / connection lost ─> unknown
                 └─ retry <────────────────────┤  (never resent; logged for the operator)
                                               └─ 5xx for this message ───────> rejected

- ``claimed``: an attempt holds the send and has not yet issued the SMTP ``DATA``
  command, so nothing can have been delivered. The claim expires after
  :data:`CLAIM_SECONDS`; a later attempt may then take it over.
- ``data``: the ``DATA`` command is about to be sent. From here on a lost connection
  means the server may or may not have queued the message: the outcome is ``unknown``,
  and it is never resent automatically (a naive retry delivered two copies). An attempt
  that died in this state is turned into ``unknown`` by the next one after
  :data:`DATA_SECONDS`.
- ``retry``: a definite failure — nothing was delivered (connection refused, TLS or login
  failure, a 4xx reply before or to the message, every recipient refused with 4xx). The
  actor raises and Dramatiq retries; the next attempt claims again.
- ``sent``, ``unknown``, ``rejected``: final. A redelivered message finds them and sends
  nothing. ``rejected`` is a 5xx reply about this message (every recipient refused, or
  the message itself refused): retrying cannot help, the operator is told in the log.

The outbox transport writes ``<receipt id>.eml`` create-if-absent, so it is idempotent
and a stale ``data`` state is simply taken over there.

Redis arbitrates between concurrent attempts; what decides "never twice" is also copied
to the store's journal (``mail/<receipt id>.json``: ``data`` before the DATA command, and
each final state), because Redis may lose its data. A first claim (no record in Redis)
reads the journal: a final state there stands, and ``data`` there means the outcome is
unknown, so the mail is not sent again.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime
from typing import Any, Callable

import structlog

from pipeline.notify.message import ReceiptMail, build_receipt_mail
from pipeline.notify.records import CLAIM_SECONDS, Journal, JournalledStates, SendRecords
from pipeline.notify.registry import Registry
from pipeline.notify.transport import ClaimLost, DefiniteFailure, SendResult, Transport, UnknownOutcome

#: retries of a definite failure, after the settings' mail_min_backoff_ms doubling to
#: mail_max_backoff_ms (15 s to 1 h by default: about a day and a half in all)
MAIL_MAX_RETRIES = 40
#: hard limit of one send attempt (the SMTP timeouts are far shorter)
MAIL_TIME_LIMIT_MS = 5 * 60 * 1000
#: seconds after which an attempt stuck in ``data`` (its worker died) counts as unknown
DATA_SECONDS = 900
#: the addresses of the outbox mode when MAIL_FROM / OPERATOR_EMAIL are not set
OUTBOX_FROM = "培训上报回执 <receipts@localhost>"
OUTBOX_OPERATOR = "operator@localhost"

FINAL_STATES = ("sent", "unknown", "rejected")


class MailRetry(Exception):
    """The send failed definitely (nothing was delivered) or is busy elsewhere: retry later."""


class Mailer:
    """Sends the receipt of one decision, exactly once (see the module docstring)."""

    def __init__(self, *, records: SendRecords, transport: Transport, registry: Registry, mail_from: str,
                 operator_email: str, read_document: Callable[[str], dict[str, Any]],
                 clock: Callable[[], datetime], claim_seconds: int = CLAIM_SECONDS,
                 on_result: Callable[[str], None] | None = None, journal: Journal | None = None,
                 web_url: str = "") -> None:
        self.records = records
        #: the durable copy of "reached DATA" and the final states (None: Redis only)
        self.journalled = JournalledStates(journal) if journal is not None else None
        self.transport = transport
        self.registry = registry
        self.mail_from = mail_from
        self.operator_email = operator_email
        #: the web application's public address: each receipt links to its page there ("": none)
        self.web_url = web_url
        self.read_document = read_document
        self.clock = clock
        self.claim_seconds = claim_seconds
        #: told "sent" | "unknown" | "rejected" once per receipt (when the send record
        #: reaches that final state), and "retry" per failed attempt: the metrics
        self.on_result = on_result

    def _tell(self, result: str) -> None:
        if self.on_result is not None:
            try:
                self.on_result(result)
            except Exception:  # counting must never change what happens to a mail
                pass

    def build(self, outcome: dict[str, Any]) -> ReceiptMail:
        document = self.read_document(outcome["location"])
        return build_receipt_mail(document, registry=self.registry, mail_from=self.mail_from,
                                  operator_email=self.operator_email, now=self.clock(), web_url=self.web_url)

    def deliver(self, outcome: dict[str, Any]) -> str:
        """Send the receipt of ``outcome`` (what ``package_decided`` received) unless it
        was sent, or tried with an unknown or final result, before.

        Returns the state it ended in: "sent", "unknown", "rejected" or "lost" (another
        attempt took over). Raises :class:`MailRetry` on a definite failure (nothing was
        delivered; the actor retries) or while another attempt holds the send.
        """
        rid = outcome["receipt_id"]
        log = structlog.get_logger().bind(receipt_id=rid, transport=self.transport.describe())
        holder = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        state, record = self.records.claim(rid, holder, self.claim_seconds, idempotent=self.transport.idempotent)
        if state != "claimed":
            return self._not_claimed(rid, state, record, log)
        if not record.get("previous"):  # no record in Redis before: maybe Redis lost it
            settled = self._settled_in_journal(rid, holder, log)
            if settled is not None:
                return settled
        try:
            mail = self.build(outcome)
        except Exception as exc:
            self.records.advance(rid, holder, ("claimed",), "retry", error=f"building the mail: {exc}"[:500])
            raise
        log = log.bind(to=list(mail.recipients), message_id=mail.message_id,
                       matched_by=mail.match.by if mail.match else None)
        document_source = (outcome.get("source") or "")
        if mail.match is None:
            log.warning("mail.unmatched", source=document_source, named_institution=mail.named_other,
                        note="the uploading account is not in the registry: the receipt goes to the operator"
                             + (" (its plan names a registered institution, which was NOT mailed)"
                                if mail.named_other else ""))
        elif mail.plan_differs:
            log.warning("mail.institution_differs", source=document_source,
                        account_institution=mail.match.institution.name, plan_institution=mail.plan_institution,
                        note="the plan names another institution than the uploading account's: the receipt "
                             "goes to the account's institution, with the operator in copy")
        result = self._send(mail, holder, log)
        if isinstance(result, str):
            return result
        self.records.advance(rid, holder, ("data", "unknown"), "sent", message_id=mail.message_id,
                             to=list(mail.recipients), error="")
        self._journal(rid, "sent", log, message_id=mail.message_id)
        self._tell("sent")
        log.info("mail.sent", reply=result.detail, attempts=record.get("attempts"))
        if result.refused:
            log.error("mail.recipient_refused", refused=result.refused,
                      action="fix these addresses in the institution registry")
        return "sent"

    def _journal(self, receipt_id: str, state: str, log: Any, **extra: Any) -> None:
        """Copy a final state to the journal. A failure is logged, not raised: Redis
        holds the state, and the journal's older "data" still keeps the mail from ever
        being sent twice."""
        if self.journalled is None:
            return
        try:
            self.journalled.write(receipt_id, state, **extra)
        except Exception as exc:
            log.warning("mail.journal_failed", state=state, error=f"{type(exc).__name__}: {exc}"[:300])

    def _settled_in_journal(self, rid: str, holder: str, log: Any) -> str | None:
        """The state the journal knows for a send Redis had no record of (its data was
        lost): a final one stands; an attempt that reached DATA is unknown, never resent.
        None when the journal knows nothing that stops this attempt."""
        if self.journalled is None:
            return None
        known = self.journalled.read(rid)
        state = (known or {}).get("state")
        if state in FINAL_STATES:
            self.records.advance(rid, holder, ("claimed",), state, error=known.get("error", ""),
                                 message_id=known.get("message_id", ""))
            log.info("mail.already_done", state=state, known_from="journal")
            return state
        if state == "data" and not self.transport.idempotent:
            reason = "an attempt reached the DATA command before Redis lost the send's record; delivery is unknown"
            self.records.advance(rid, holder, ("claimed",), "unknown", error=reason)
            self._journal(rid, "unknown", log, error=reason)
            self._tell("unknown")
            log.error("mail.unknown", reason=reason, known_from="journal",
                      action="not resent: check the mail server's log for this receipt's Message-ID "
                             "and forward the receipt by hand if it never arrived")
            return "unknown"
        return None

    def _not_claimed(self, rid: str, state: str, record: dict[str, Any], log: Any) -> str:
        """The send record was not ours to take: done before, found unknown now, or
        held by another attempt (raises MailRetry)."""
        if state in FINAL_STATES:
            log.info("mail.already_done", state=state, attempts=record.get("attempts"))
            return state
        if state == "unknown_now":
            self._journal(rid, "unknown", log, error=record.get("error", ""))
            self._tell("unknown")
            log.error("mail.unknown", reason=record.get("error"), attempts=record.get("attempts"),
                      action="not resent: check the mail server's log for this receipt's Message-ID "
                             "and forward the receipt by hand if it never arrived")
            return "unknown"
        log.info("mail.busy", holder=record.get("holder"), state=record.get("state"))
        raise MailRetry(f"the send of {rid} is held by another attempt")

    def _send(self, mail: ReceiptMail, holder: str, log: Any) -> SendResult | str:
        """Hand the mail to the transport and record how far it got: the transport's
        result when it was delivered, else the state the send ended in ("lost",
        "rejected", "unknown"); raises MailRetry when nothing was delivered."""
        rid = mail.receipt_id

        def before_data() -> bool:
            journal = None if self.transport.idempotent else self.journalled
            if journal is not None:
                # durable first: from here on a resend could deliver twice, whatever Redis keeps
                journal.write(rid, "data", message_id=mail.message_id)
            try:
                return self.records.advance(rid, holder, ("claimed",), "data", expires_in=DATA_SECONDS)
            except Exception:
                # Redis failed before DATA was sent: nothing was delivered, so the journal
                # must not keep this attempt from being made again
                if journal is not None:
                    self._journal(rid, "retry", log)
                raise

        try:
            return self.transport.send(mail, before_data)
        except ClaimLost:
            log.warning("mail.claim_lost", note="another attempt took the send over; this one sent nothing")
            return "lost"
        except DefiniteFailure as exc:
            if exc.retry:
                if self.records.advance(rid, holder, ("claimed", "data"), "retry", error=str(exc)[:500]):
                    self._journal(rid, "retry", log)  # a refusal of DATA: nothing was delivered
                self._tell("retry")
                log.warning("mail.retry", phase=exc.phase, code=exc.code, error=exc.detail)
                raise MailRetry(f"sending {rid} failed ({exc}); nothing was delivered") from None
            self.records.advance(rid, holder, ("claimed", "data"), "rejected", error=str(exc)[:500])
            self._journal(rid, "rejected", log, error=str(exc)[:500])
            self._tell("rejected")
            log.error("mail.rejected", phase=exc.phase, code=exc.code, error=exc.detail,
                      action="the server refused this receipt for good: check the addresses in the registry "
                             "and forward the receipt by hand")
            return "rejected"
        except UnknownOutcome as exc:
            self.records.advance(rid, holder, ("data",), "unknown", error=exc.detail[:500])
            self._journal(rid, "unknown", log, error=exc.detail[:500])
            self._tell("unknown")
            log.error("mail.unknown", reason=exc.detail,
                      action="not resent: check the mail server's log for this Message-ID and forward "
                             "the receipt by hand if it never arrived")
            return "unknown"
        except Exception as exc:  # a fault of ours: decide by how far the attempt got
            if self.records.advance(rid, holder, ("claimed",), "retry", error=f"{type(exc).__name__}: {exc}"[:500]):
                raise
            if self.records.advance(rid, holder, ("data",), "unknown", error=f"{type(exc).__name__}: {exc}"[:500]):
                self._journal(rid, "unknown", log, error=f"{type(exc).__name__}: {exc}"[:500])
                self._tell("unknown")
                log.error("mail.unknown", reason=f"{type(exc).__name__}: {exc}", action="not resent")
                return "unknown"
            raise
