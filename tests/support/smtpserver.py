"""Real SMTP servers for the mail tests (aiosmtpd on a free loopback port).

- :class:`RecordingHandler` keeps every message it accepted (envelope and raw bytes).
- :class:`DropAfterDataHandler` stores the message, then cuts the connection instead of
  answering 250: the client cannot know the message arrived (a naive retry sends a copy).
- :class:`HoldingHandler` holds every message's final reply until released (a very slow
  mail server).
- :class:`RefusingHandler` answers a chosen stage (MAIL, RCPT, DATA) with a chosen reply,
  the first ``times`` times (then accepts), e.g. ``451 4.3.0 Try again later``.

:class:`SmtpServer` starts one of them on a port (a fresh free one, or a given one: a
test can take a port with nothing listening, see the client fail, then start the server
on that very port).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from pipeline.app.redis_server import free_loopback_port


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes


class RecordingHandler:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[Received] = []
        self.rcpt_commands = 0

    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._messages)

    def _record(self, envelope: Any) -> None:
        with self._lock:
            self._messages.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.content)))

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list) -> str:
        self.rcpt_commands += 1
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self._record(envelope)
        return "250 2.0.0 OK queued"


class DropAfterDataHandler(RecordingHandler):
    """Queues the message, then drops the connection without the final reply."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self._record(envelope)
        server.transport.abort()  # RST: the client sees the connection die after DATA
        return "250 2.0.0 OK queued (never seen by the client)"


class RefusingHandler(RecordingHandler):
    """Answers ``stage`` ("mail" | "rcpt" | "data") with ``reply`` the first ``times`` times."""

    def __init__(self, stage: str, reply: str, times: int = 10**9) -> None:
        super().__init__()
        assert stage in ("mail", "rcpt", "data")
        self.stage, self.reply, self.left = stage, reply, times

    def _refuse(self, stage: str) -> bool:
        if stage == self.stage and self.left > 0:
            self.left -= 1
            return True
        return False

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, mail_options: list) -> str:
        if self._refuse("mail"):
            return self.reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list) -> str:
        self.rcpt_commands += 1
        if self._refuse("rcpt"):
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self._refuse("data"):
            return self.reply
        self._record(envelope)
        return "250 2.0.0 OK queued"


class HoldingHandler(RecordingHandler):
    """Takes each message's DATA and holds the reply until :meth:`release` (a mail server
    that has become very slow); then accepts it. The event loop stays free meanwhile, so
    any number of connections can hang at once."""

    def __init__(self) -> None:
        super().__init__()
        self._released = threading.Event()
        self.holding = 0

    def release(self) -> None:
        self._released.set()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.holding += 1
        while not self._released.is_set():
            await asyncio.sleep(0.05)
        self._record(envelope)
        return "250 2.0.0 OK queued"


def password_authenticator(user: str, password: str) -> Any:
    """An aiosmtpd authenticator accepting exactly ``user``/``password`` (LOGIN, PLAIN)."""

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user
              and auth_data.password.decode() == password)
        return AuthResult(success=ok, handled=False)

    return authenticate


class SmtpServer:
    def __init__(self, handler: RecordingHandler, port: int | None = None, **controller_kwargs: Any) -> None:
        self.handler = handler
        self.port = port or free_loopback_port()
        self.kwargs = controller_kwargs
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages

    def start(self) -> "SmtpServer":
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **self.kwargs)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def __enter__(self) -> "SmtpServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def self_signed_tls(folder: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting it) for a certificate of 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cafile=str(cert_path))
    return server, client
