"""Settings: one frozen object built once at each entry point, then passed down.

Sources, later ones winning: built-in defaults, an optional TOML file (path in
``PIPELINE_CONFIG``; keys are the field names below), the environment. This is the only
module that reads the environment, and only through :func:`load_settings`'s ``env``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from pipeline.notify.message import mailbox
from pipeline.notify.transport import SmtpTarget


class SettingsError(ValueError):
    """A setting is malformed; the message names it."""


def process_environment() -> dict[str, str]:
    """The environment this process was started with: what ``pipeline run`` hands on to
    its children (they build their own settings from it)."""
    return dict(os.environ)


def load_settings_or_exit(prog: str = "pipeline") -> "Settings":
    """The settings of an entry point; a malformed one ends the command with exit status 2
    and the message on stderr."""
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./var")
    #: None: `pipeline run` starts an embedded redis-server under DATA/redis.
    redis_url: str | None = None
    worker_processes: int = 2
    worker_threads: int = 2
    #: threads per worker process that send receipt mails (apart from the package threads)
    mail_threads: int = 2
    #: seconds a file must stay unchanged before it is claimed
    quiet_period: float = 2.0
    #: seconds a folder upload or a set of loose files must stay unchanged before it is
    #: packed into one ZIP and taken (pipeline/intake/folder_uploads.py)
    folder_quiet_period: float = 10.0
    #: seconds a ZIP without its end record may wait for its upload to resume
    stale_upload_timeout: float = 1800.0
    #: seconds between full inbox scans (catches missed events, orphaned claims)
    scan_interval: float = 60.0
    #: an enqueued inbox file or a claim untouched this long is enqueued again
    requeue_after: float = 300.0
    policy_path: Path | None = None
    log_format: str = "auto"  # auto | json | console
    log_level: str = "info"
    #: also append every process's lines, as JSON, to this file (rotated by the
    #: supervisor at 20 MB, 5 kept); ``make run`` sets it to <data dir>/logs/pipeline.log
    log_file: Path | None = None
    #: retries of a failing package before it is quarantined as INTERNAL
    max_retries: int = 5
    min_backoff_ms: int = 2_000
    max_backoff_ms: int = 120_000
    #: hard time limit of one package's processing
    package_time_limit_ms: int = 30 * 60 * 1000
    #: Dramatiq Redis broker: a worker silent this long is presumed dead and its
    #: messages are requeued by the next maintenance run of a live worker.
    heartbeat_timeout_ms: int = 15_000
    #: out of a million broker commands; high, so a dead worker's messages come back fast
    maintenance_chance: int = 50_000
    #: an idle worker looks for new messages at least this often (Dramatiq's worker_timeout;
    #: its default of 1 s added up to a second to every package's latency)
    worker_poll_ms: int = 100
    #: seconds a worker's lease on a claimed package lives without renewal
    lease_seconds: int = 60
    #: UTC offset of the report dates and receipt ids (China Standard Time)
    utc_offset_hours: int = 8
    #: Redis key prefix of our own records and Dramatiq's queues
    namespace: str = "pipeline"
    #: where packages live: "fs" (folders under data_dir) or "s3" (buckets, see docs/s3.md)
    storage: str = "fs"
    #: the S3/MinIO endpoint as host:port (no scheme; TLS is s3_secure)
    s3_endpoint: str | None = None
    s3_access_key: str = ""
    s3_secret_key: str = field(default="", repr=False)  # never printed with the settings
    s3_secure: bool = True
    #: None: the SDK asks the server for each bucket's region (one extra request)
    s3_region: str | None = None
    s3_inbox_bucket: str = "inbox"
    s3_archive_bucket: str = "archive"
    s3_quarantine_bucket: str = "quarantine"
    #: the mail server of the receipts (docs/mail.md); None: receipts are written as
    #: .eml files under DATA/outbox/. May hold a password, so never printed.
    smtp_url: str | None = field(default=None, repr=False)
    #: the From of receipt mails (``名称 <addr>`` allowed); required with SMTP_URL
    mail_from: str = ""
    #: the operator's address: unmatched institutions, INTERNAL decisions, Reply-To;
    #: required with SMTP_URL
    operator_email: str = ""
    #: a receipt mail refused by the server (or the server unreachable) is retried after
    #: this, doubling up to mail_max_backoff_ms, 40 times: about a day and a half in all
    mail_min_backoff_ms: int = 15_000
    mail_max_backoff_ms: int = 3_600_000
    #: seconds an SMTP step (connect, a command, the message) may take before the attempt
    #: gives up (after the message was handed over, its outcome is then "unknown")
    smtp_timeout: float = 30.0
    #: the institution registry (TOML, docs/mail.md); None: every receipt goes to the operator
    institutions_path: Path | None = None
    #: the Prometheus endpoint (docs/operations.md): 0 = off. Every pipeline process of a
    #: machine offers to serve it and the first to bind the port does; the values come
    #: from Redis, so whichever serves shows the same numbers
    metrics_port: int = 0
    metrics_addr: str = "0.0.0.0"
    #: the catalogue database (docs/catalogue.md): None is the embedded default, SQLite at
    #: <data dir>/catalogue.sqlite3; production: postgresql://user:password@host:port/dbname.
    #: May hold a password, so never printed.
    database_url: str | None = field(default=None, repr=False)
    #: the secret key of the catalogue's keyed hash of ID numbers (HMAC-SHA256, at least 32
    #: characters). Required with DATABASE_URL; the embedded default makes one and keeps
    #: it in <data dir>/catalogue.key. Never printed.
    catalogue_key: str = field(default="", repr=False)
    #: the web application (docs/web.md): `pipeline run` and `pipeline web` serve it at
    #: http://web_addr:web_port/ (0: `pipeline run` serves none); behind the TLS reverse
    #: proxy set web_https, so cookies are sent over HTTPS only
    web_port: int = 8000
    web_addr: str = "127.0.0.1"
    web_https: bool = False
    #: signs the web sessions' cookies (at least 32 characters); unset, the first web process
    #: makes one and keeps it in <data dir>/web.key. Never printed.
    web_secret: str = field(default="", repr=False)
    #: behind the TLS reverse proxy (web_https): the proxy's addresses or networks, comma
    #: separated, whose X-Forwarded-For/-Proto are trusted ("*": any; in compose the proxy's network)
    web_trusted_proxies: str = "127.0.0.1"
    #: the web application's address as institutions reach it (https://report.example.gov.cn);
    #: set, every receipt mail links to its package's page there. "": no link
    web_public_url: str = ""
    #: fault-injection points for the reliability tests (pipeline/intake/faults.py); never in production
    fault_points: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def inbox_dir(self) -> Path:
        return self.data_dir / "inbox"

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def claims_dir(self) -> Path:
        return self.data_dir / "claimed"

    @property
    def work_dir(self) -> Path:
        return self.data_dir / "work"

    @property
    def catalogue_url(self) -> str:
        """``DATABASE_URL``, else the embedded SQLite file under the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'catalogue.sqlite3'}"

    @property
    def catalogue_key_file(self) -> Path:
        """Where the embedded default keeps the key it made (no ``DATABASE_URL``)."""
        return self.data_dir / "catalogue.key"

    @property
    def web_secret_file(self) -> Path:
        """Where the web's session secret is kept when ``PIPELINE_WEB_SECRET`` is not set."""
        return self.data_dir / "web.key"

    @property
    def redis_dir(self) -> Path:
        return self.data_dir / "redis"

    @property
    def broker_namespace(self) -> str:
        """The key prefix of Dramatiq's queues in Redis."""
        return f"{self.namespace}-dramatiq"


#: environment variable -> field name
ENV_NAMES: dict[str, str] = {
    "PIPELINE_DATA_DIR": "data_dir",
    "REDIS_URL": "redis_url",
    "PIPELINE_WORKER_PROCESSES": "worker_processes",
    "PIPELINE_WORKER_THREADS": "worker_threads",
    "PIPELINE_MAIL_THREADS": "mail_threads",
    "PIPELINE_QUIET_PERIOD": "quiet_period",
    "PIPELINE_FOLDER_QUIET_PERIOD": "folder_quiet_period",
    "PIPELINE_STALE_UPLOAD_TIMEOUT": "stale_upload_timeout",
    "PIPELINE_SCAN_INTERVAL": "scan_interval",
    "PIPELINE_REQUEUE_AFTER": "requeue_after",
    "PIPELINE_POLICY": "policy_path",
    "PIPELINE_LOG_FORMAT": "log_format",
    "PIPELINE_LOG_LEVEL": "log_level",
    "PIPELINE_LOG_FILE": "log_file",
    "PIPELINE_MAX_RETRIES": "max_retries",
    "PIPELINE_MIN_BACKOFF_MS": "min_backoff_ms",
    "PIPELINE_MAX_BACKOFF_MS": "max_backoff_ms",
    "PIPELINE_PACKAGE_TIME_LIMIT_MS": "package_time_limit_ms",
    "PIPELINE_HEARTBEAT_TIMEOUT_MS": "heartbeat_timeout_ms",
    "PIPELINE_MAINTENANCE_CHANCE": "maintenance_chance",
    "PIPELINE_LEASE_SECONDS": "lease_seconds",
    "PIPELINE_WORKER_POLL_MS": "worker_poll_ms",
    "PIPELINE_UTC_OFFSET_HOURS": "utc_offset_hours",
    "PIPELINE_NAMESPACE": "namespace",
    "PIPELINE_STORAGE": "storage",
    "PIPELINE_FAULT_POINTS": "fault_points",
    "S3_ENDPOINT": "s3_endpoint",
    "S3_ACCESS_KEY": "s3_access_key",
    "S3_SECRET_KEY": "s3_secret_key",
    "S3_SECURE": "s3_secure",
    "S3_REGION": "s3_region",
    "S3_INBOX_BUCKET": "s3_inbox_bucket",
    "S3_ARCHIVE_BUCKET": "s3_archive_bucket",
    "S3_QUARANTINE_BUCKET": "s3_quarantine_bucket",
    "SMTP_URL": "smtp_url",
    "MAIL_FROM": "mail_from",
    "OPERATOR_EMAIL": "operator_email",
    "PIPELINE_INSTITUTIONS": "institutions_path",
    "PIPELINE_MAIL_MIN_BACKOFF_MS": "mail_min_backoff_ms",
    "PIPELINE_MAIL_MAX_BACKOFF_MS": "mail_max_backoff_ms",
    "PIPELINE_SMTP_TIMEOUT": "smtp_timeout",
    "PIPELINE_METRICS_PORT": "metrics_port",
    "PIPELINE_METRICS_ADDR": "metrics_addr",
    "DATABASE_URL": "database_url",
    "PIPELINE_CATALOGUE_KEY": "catalogue_key",
    "PIPELINE_WEB_PORT": "web_port",
    "PIPELINE_WEB_ADDR": "web_addr",
    "PIPELINE_WEB_HTTPS": "web_https",
    "PIPELINE_WEB_SECRET": "web_secret",
    "PIPELINE_WEB_TRUSTED_PROXIES": "web_trusted_proxies",
    "PIPELINE_WEB_PUBLIC_URL": "web_public_url",
}

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
#: S3 bucket names: 3-63 lowercase letters, digits, dots and hyphens, starting and
#: ending with a letter or digit, no "..", not an IP address
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$")

_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
_DEFAULTS = Settings()


def _coerce(name: str, raw: Any, origin: str) -> Any:
    default = getattr(_DEFAULTS, name)
    kind = _FIELDS[name].type
    try:
        if name in ("data_dir", "policy_path", "institutions_path", "log_file"):
            return None if raw in (None, "") else Path(str(raw)).expanduser()
        if name in ("redis_url", "s3_endpoint", "s3_region", "smtp_url", "database_url"):
            return None if raw in (None, "") else str(raw).strip()
        if isinstance(default, bool):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text not in _TRUE + _FALSE:
                raise ValueError("must be 0 or 1")
            return text in _TRUE
        if isinstance(default, int):
            value = int(raw)
            if value < 0:
                raise ValueError("must not be negative")
            return value
        if isinstance(default, float):
            value = float(raw)
            if value < 0:
                raise ValueError("must not be negative")
            return value
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{origin}: invalid value {raw!r} for {name} ({kind}): {exc}") from exc


def load_settings(env: Mapping[str, str] | None = None, config_file: Path | None = None,
                  **overrides: Any) -> Settings:
    """Build the settings. ``env`` defaults to the process environment (entry points only)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    config_file = config_file or (Path(env["PIPELINE_CONFIG"]) if env.get("PIPELINE_CONFIG") else None)
    if config_file is not None:
        try:
            table = tomllib.loads(Path(config_file).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read settings file {config_file}: {exc}") from exc
        for key, raw in table.items():
            if key not in _FIELDS or key == "extra":
                raise SettingsError(f"{config_file}: unknown setting {key!r}")
            values[key] = _coerce(key, raw, str(config_file))
    for var, name in ENV_NAMES.items():
        if var in env:
            values[name] = _coerce(name, env[var], var)
    for name, raw in overrides.items():
        values[name] = raw
    settings = Settings(**values)
    if settings.data_dir is None:
        settings = dataclasses.replace(settings, data_dir=_DEFAULTS.data_dir)
    if settings.log_format not in ("auto", "json", "console"):
        raise SettingsError(f"PIPELINE_LOG_FORMAT must be auto, json or console, not {settings.log_format!r}")
    if settings.worker_processes < 1 or settings.worker_threads < 1 or settings.mail_threads < 1:
        raise SettingsError("worker processes and threads (package and mail threads) must be at least 1")
    if settings.metrics_port > 65535:
        raise SettingsError(f"PIPELINE_METRICS_PORT must be a port (1-65535) or 0 (off), not {settings.metrics_port}")
    if settings.web_port > 65535:
        raise SettingsError(f"PIPELINE_WEB_PORT must be a port (1-65535) or 0 (off), not {settings.web_port}")
    if settings.web_secret and len(settings.web_secret) < CATALOGUE_KEY_MIN:
        raise SettingsError(f"PIPELINE_WEB_SECRET must have at least {CATALOGUE_KEY_MIN} characters")
    settings = dataclasses.replace(settings, web_trusted_proxies=_trusted_proxies(settings.web_trusted_proxies),
                                   web_public_url=_public_url(settings.web_public_url))
    _check_storage(settings)
    _check_mail(settings)
    _check_catalogue(settings)
    return dataclasses.replace(settings, data_dir=settings.data_dir.resolve())


def _trusted_proxies(text: str) -> str:
    """PIPELINE_WEB_TRUSTED_PROXIES: "*", or addresses and networks (``172.30.0.0/24``, host
    bits clear, as uvicorn reads them: a malformed one would silently trust nobody)."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if items == ["*"]:
        return "*"
    if not items:
        raise SettingsError("PIPELINE_WEB_TRUSTED_PROXIES needs an address (e.g. 127.0.0.1), a network or *")
    for item in items:
        try:
            ipaddress.ip_network(item) if "/" in item else ipaddress.ip_address(item)
        except ValueError:
            raise SettingsError(f"PIPELINE_WEB_TRUSTED_PROXIES: {item!r} is not an IP address or network "
                                f"(a network has its host bits clear: 172.30.0.0/24) nor *") from None
    return ",".join(items)


def _public_url(text: str) -> str:
    """PIPELINE_WEB_PUBLIC_URL: "" or an http(s) URL of a host, kept without its trailing slash."""
    url = text.strip().rstrip("/")
    if not url:
        return ""
    parts = urlsplit(url)
    if (parts.scheme not in ("http", "https") or not parts.hostname or parts.username is not None
            or parts.query or parts.fragment or "#" in url or "?" in url or re.search(r"\s", url)):
        raise SettingsError(f"PIPELINE_WEB_PUBLIC_URL must be the web's address as institutions reach it, "
                            f"https://host[:port], not {text!r}")
    try:
        parts.port
    except ValueError:
        raise SettingsError(f"PIPELINE_WEB_PUBLIC_URL has an invalid port: {text!r}") from None
    return url


def _check_storage(settings: Settings) -> None:
    """PIPELINE_STORAGE and, for "s3", the S3_* settings it needs."""
    if settings.storage not in ("fs", "s3"):
        raise SettingsError(f"PIPELINE_STORAGE must be fs or s3, not {settings.storage!r}")
    if settings.storage != "s3":
        return
    endpoint = settings.s3_endpoint
    if not endpoint:
        raise SettingsError("PIPELINE_STORAGE=s3 needs S3_ENDPOINT (host:port, e.g. minio.internal:9000)")
    if "://" in endpoint:
        raise SettingsError(f"S3_ENDPOINT is host:port without a scheme (use S3_SECURE=0|1 for "
                            f"http|https), not {endpoint!r}")
    match = _HOST_PORT.match(endpoint)
    if not match or (match.group(2) and not 0 < int(match.group(2)[1:]) < 65536):
        raise SettingsError(f"S3_ENDPOINT must be host:port, not {endpoint!r}")
    if not settings.s3_access_key or not settings.s3_secret_key:
        raise SettingsError("PIPELINE_STORAGE=s3 needs S3_ACCESS_KEY and S3_SECRET_KEY")
    buckets = {"S3_INBOX_BUCKET": settings.s3_inbox_bucket, "S3_ARCHIVE_BUCKET": settings.s3_archive_bucket,
               "S3_QUARANTINE_BUCKET": settings.s3_quarantine_bucket}
    for var, bucket in buckets.items():
        if not _BUCKET.match(bucket) or ".." in bucket or re.fullmatch(r"[0-9.]+", bucket):
            raise SettingsError(f"{var} is not a valid bucket name: {bucket!r}")
    if len(set(buckets.values())) != len(buckets):
        raise SettingsError("S3_INBOX_BUCKET, S3_ARCHIVE_BUCKET and S3_QUARANTINE_BUCKET must differ")


def _check_mail(settings: Settings) -> None:
    """SMTP_URL's form; MAIL_FROM and OPERATOR_EMAIL are addresses, required with SMTP_URL."""
    if not (settings.smtp_url or settings.mail_from or settings.operator_email):
        return
    for var, value in (("MAIL_FROM", settings.mail_from), ("OPERATOR_EMAIL", settings.operator_email)):
        if value:
            try:
                mailbox(value)
            except ValueError as exc:
                raise SettingsError(f"{var}: {exc}") from None
    if not settings.smtp_url:
        return
    try:
        SmtpTarget.parse(settings.smtp_url)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    missing = [var for var, value in (("MAIL_FROM", settings.mail_from), ("OPERATOR_EMAIL", settings.operator_email))
               if not value]
    if missing:
        raise SettingsError(f"SMTP_URL is set, so {' and '.join(missing)} must be set too (docs/mail.md)")


#: the shortest catalogue key taken (characters): 128 bits of hex, or a long passphrase
CATALOGUE_KEY_MIN = 32


def _check_catalogue(settings: Settings) -> None:
    """DATABASE_URL's form; a catalogue key of CATALOGUE_KEY_MIN characters, required with
    DATABASE_URL (production): the embedded default alone may make its own."""
    url = settings.database_url
    if url and not url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://", "sqlite:///")):
        raise SettingsError("DATABASE_URL must be postgresql://user:password@host:port/dbname "
                            "(or sqlite:///path), not one starting " + repr(url.split("://", 1)[0] + "://"))
    key = settings.catalogue_key
    if key and len(key) < CATALOGUE_KEY_MIN:
        raise SettingsError(f"PIPELINE_CATALOGUE_KEY must have at least {CATALOGUE_KEY_MIN} characters "
                            f"(e.g. `python3 -c 'import secrets; print(secrets.token_hex(32))'`)")
    if url and not key:
        raise SettingsError("DATABASE_URL is set, so PIPELINE_CATALOGUE_KEY must be set too: the secret key of "
                            "the catalogue's keyed hash of ID numbers (docs/catalogue.md). Keep it safe: "
                            "without it no new package can be compared with the ones catalogued before")
