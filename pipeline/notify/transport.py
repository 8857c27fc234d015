"""How a receipt mail leaves: to the mail server of ``SMTP_URL`` (:class:`SmtpTransport`)
or, with no ``SMTP_URL``, as ``<receipt id>.eml`` under ``DATA/outbox/``
(:class:`OutboxTransport`). A transport reports how far a send got, so the mailer
(pipeline/notify/mailer.py) can tell "nothing was delivered" from "may have been"."""

from __future__ import annotations

import os
import smtplib
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from pipeline.check.files import write_if_absent
from pipeline.notify.message import ReceiptMail

#: seconds an SMTP operation (connect, each command, the message) may take
SMTP_TIMEOUT = 30.0


@dataclass(frozen=True)
class SmtpTarget:
    """The mail server of ``SMTP_URL``: ``smtp://[user:pass@]host[:port][?starttls=1]``
    or ``smtps://[user:pass@]host[:port]`` (user and password percent-encoded)."""

    host: str
    port: int
    tls: bool = False  # smtps: TLS from the first byte
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> "SmtpTarget":
        """Raises ValueError with a message that never repeats the password."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"SMTP_URL is not a URL like smtp://user:pass@host:587?starttls=1: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtps"):
            raise ValueError(f"SMTP_URL must start with smtp:// or smtps://, not {scheme + '://' if scheme else '(none)'}")
        if not parts.hostname:
            raise ValueError("SMTP_URL has no host (smtp://host:port)")
        if parts.path not in ("", "/"):
            raise ValueError("SMTP_URL must not have a path (smtp://user:pass@host:port?starttls=1)")
        starttls = False
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key != "starttls":
                raise ValueError(f"SMTP_URL: unknown option {key!r} (only starttls=0|1)")
            if value not in ("0", "1", "true", "false", "yes", "no"):
                raise ValueError(f"SMTP_URL: starttls must be 0 or 1, not {value!r}")
            starttls = value in ("1", "true", "yes")
        if scheme == "smtps" and starttls:
            raise ValueError("SMTP_URL: smtps:// is TLS already; starttls=1 goes with smtp://")
        if port is None:
            port = 465 if scheme == "smtps" else (587 if starttls else 25)
        if parts.password is not None and not parts.username:
            raise ValueError("SMTP_URL has a password but no user name")
        return cls(host=parts.hostname, port=port, tls=scheme == "smtps", starttls=starttls,
                   username=unquote(parts.username) if parts.username else None,
                   password=unquote(parts.password) if parts.password is not None else None)

    def describe(self) -> str:
        """For logs: scheme, host and port, never the credentials."""
        suffix = "?starttls=1" if self.starttls else ""
        return f"{'smtps' if self.tls else 'smtp'}://{self.host}:{self.port}{suffix}"

class DefiniteFailure(Exception):
    """The server answered, or never took the message: nothing was delivered."""

    def __init__(self, phase: str, detail: str, code: int | None = None, retry: bool = True) -> None:
        super().__init__(f"{phase}: {code or ''} {detail}".strip())
        self.phase, self.detail, self.code, self.retry = phase, detail, code, retry


class UnknownOutcome(Exception):
    """The connection failed after the DATA command: the message may have been queued."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ClaimLost(Exception):
    """Another attempt took the send over before DATA; this one sends nothing."""


@dataclass(frozen=True)
class SendResult:
    refused: dict[str, str] = field(default_factory=dict)  # recipients refused while others took it
    detail: str = ""


class Transport(Protocol):
    #: True if sending the same mail twice yields one copy (then ``data`` is never unknown)
    idempotent: bool

    def send(self, mail: ReceiptMail, before_data: Callable[[], bool]) -> SendResult:
        """Deliver ``mail``; call ``before_data`` right before the point of no return and
        give up (raise :class:`ClaimLost`) if it returns False."""

    def describe(self) -> str: ...


def _reply_text(resp: bytes | str) -> str:
    return (resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)).strip()[:300]


def _quietly(command: Callable[[], Any]) -> None:
    """A courtesy command (RSET) whose failure changes nothing."""
    try:
        command()
    except (smtplib.SMTPException, OSError):
        pass


class SmtpTransport:
    idempotent = False

    def __init__(self, target: SmtpTarget, timeout: float = SMTP_TIMEOUT,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.target = target
        self.timeout = timeout
        self.ssl_context = ssl_context

    def describe(self) -> str:
        return self.target.describe()

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    def send(self, mail: ReceiptMail, before_data: Callable[[], bool]) -> SendResult:
        step = _Step()
        try:
            try:
                smtp = self._connect(step)
                refused = self._envelope(smtp, mail, step)
                if not before_data():
                    _quietly(smtp.rset)
                    raise ClaimLost()
                step.phase = "data"
                code, resp = smtp.data(mail.as_bytes())
            except smtplib.SMTPDataError as exc:  # a reply to DATA or to the message: definite
                raise DefiniteFailure("data", _reply_text(exc.smtp_error), exc.smtp_code,
                                      retry=400 <= exc.smtp_code < 500) from None
            except smtplib.SMTPResponseException as exc:  # EHLO, STARTTLS, AUTH refused
                if step.phase == "data":
                    raise UnknownOutcome(f"unexpected reply after DATA: {exc.smtp_code}") from None
                raise DefiniteFailure(step.phase, _reply_text(exc.smtp_error), exc.smtp_code, retry=True) from None
            except (smtplib.SMTPException, OSError) as exc:
                if step.phase == "data":
                    raise UnknownOutcome(f"connection lost after the DATA command: {type(exc).__name__}: {exc}") from None
                raise DefiniteFailure(step.phase, f"{type(exc).__name__}: {exc}") from None
            return _accepted(code, resp, refused)
        finally:
            if step.smtp is not None:
                try:
                    step.smtp.quit()
                except (smtplib.SMTPException, OSError):
                    step.smtp.close()

    def _connect(self, step: "_Step") -> smtplib.SMTP:
        """Connected, greeted, TLS and login done as the target asks."""
        target = self.target
        if target.tls:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(target.host, target.port, timeout=self.timeout,
                                                  context=self._context())
        else:
            smtp = smtplib.SMTP(target.host, target.port, timeout=self.timeout)
        step.smtp = smtp  # closed whatever happens next
        step.phase = "ehlo"
        smtp.ehlo_or_helo_if_needed()
        if target.starttls:
            step.phase = "starttls"
            smtp.starttls(context=self._context())
            smtp.ehlo()
        if target.username:
            step.phase = "auth"
            smtp.login(target.username, target.password or "")
        return smtp

    @staticmethod
    def _envelope(smtp: smtplib.SMTP, mail: ReceiptMail, step: "_Step") -> dict[str, tuple[int, str]]:
        """MAIL FROM and RCPT TO; the recipients refused while others were taken. Raises
        DefiniteFailure when the sender or every recipient is refused."""
        step.phase = "mail"
        code, resp = smtp.mail(mail.sender)
        if code != 250:
            # a sender refused is our configuration: worth retrying once it is fixed
            raise DefiniteFailure(step.phase, _reply_text(resp), code, retry=True)
        step.phase = "rcpt"
        refused: dict[str, tuple[int, str]] = {}
        for rcpt in mail.recipients:
            code, resp = smtp.rcpt(rcpt)
            if code not in (250, 251):
                refused[rcpt] = (code, _reply_text(resp))
        if len(refused) == len(mail.recipients):
            temporary = any(400 <= c < 500 for c, _ in refused.values())
            detail = "; ".join(f"{r}: {c} {t}" for r, (c, t) in refused.items())
            _quietly(smtp.rset)
            raise DefiniteFailure(step.phase, detail, max(c for c, _ in refused.values()), retry=temporary)
        return refused


@dataclass
class _Step:
    """How far an SMTP conversation got (what a failure means depends on it), and its
    connection once there is one."""

    phase: str = "connect"
    smtp: smtplib.SMTP | None = None


def _accepted(code: int, resp: bytes | str, refused: dict[str, tuple[int, str]]) -> SendResult:
    """The server's reply to the message itself."""
    if code == 250:
        return SendResult(refused={r: f"{c} {t}" for r, (c, t) in refused.items()}, detail=_reply_text(resp))
    if 400 <= code < 600:
        raise DefiniteFailure("data", _reply_text(resp), code, retry=code < 500)
    raise UnknownOutcome(f"unreadable reply to the message: {code} {_reply_text(resp)}")


class OutboxTransport:
    """Mails as files: ``<folder>/<receipt id>.eml``, written atomically and only if absent."""

    idempotent = True

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def describe(self) -> str:
        return f"outbox {self.folder}"

    def path_of(self, receipt_id: str) -> Path:
        return self.folder / f"{receipt_id}.eml"

    def send(self, mail: ReceiptMail, before_data: Callable[[], bool]) -> SendResult:
        self.folder.mkdir(parents=True, exist_ok=True)
        if not before_data():
            raise ClaimLost()
        path = self.path_of(mail.receipt_id)
        created = write_if_absent(path, mail.as_bytes())
        fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return SendResult(detail=f"{'written' if created else 'already there'}: {path}")
