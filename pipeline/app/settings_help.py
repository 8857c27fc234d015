"""What each setting means and which commands read it: the settings part of every
command's ``--help`` (an operator looks there before reading docs/operations.md).

Every environment variable of :data:`pipeline.app.settings.ENV_NAMES` has one line here
(a test keeps the two lists equal); the default shown is the one the settings use.
"""

from __future__ import annotations

from pipeline.app.settings import ENV_NAMES, Settings

#: environment variable -> what it sets (English, one line)
SETTING_HELP: dict[str, str] = {
    "PIPELINE_DATA_DIR": "the data folder: inbox/, archive/, quarantine/, claimed/, work/, logs/",
    "REDIS_URL": "Redis of the queues and the ledger (unset: `pipeline run` starts an embedded one "
                 "under DATA/redis; other commands find it there)",
    "PIPELINE_NAMESPACE": "Redis key prefix of the records and the queues",
    "PIPELINE_STORAGE": "where packages live: fs (folders under the data folder) or s3 (docs/s3.md)",
    "S3_ENDPOINT": "S3/MinIO endpoint host:port (storage s3)",
    "S3_ACCESS_KEY": "S3 access key",
    "S3_SECRET_KEY": "S3 secret key (never printed)",
    "S3_SECURE": "1: TLS to the S3 endpoint",
    "S3_REGION": "S3 region (unset: asked of the server)",
    "S3_INBOX_BUCKET": "bucket of uploads (keys inbox/...)",
    "S3_ARCHIVE_BUCKET": "bucket of accepted packages",
    "S3_QUARANTINE_BUCKET": "bucket of rejected and duplicate packages",
    "PIPELINE_UTC_OFFSET_HOURS": "time zone of report dates, receipt ids and every time shown to people",
    "PIPELINE_LOG_FORMAT": "auto, json or console",
    "PIPELINE_LOG_LEVEL": "debug, info, warning or error",
    "PIPELINE_LOG_FILE": "also append every line as JSON to this file, rotated at 20 MB "
                         "(`make run`: DATA/logs/pipeline.log)",
    "PIPELINE_WORKER_PROCESSES": "worker processes `pipeline run` starts",
    "PIPELINE_WORKER_THREADS": "package threads per worker process",
    "PIPELINE_MAIL_THREADS": "receipt-mail threads per worker process",
    "PIPELINE_QUIET_PERIOD": "seconds an uploaded file must stay unchanged before it is taken",
    "PIPELINE_FOLDER_QUIET_PERIOD": "seconds an uploaded folder or set of loose files must stay unchanged "
                                    "before it is packed into one ZIP and taken",
    "PIPELINE_STALE_UPLOAD_TIMEOUT": "seconds a ZIP without its end record may wait for its upload to resume",
    "PIPELINE_SCAN_INTERVAL": "seconds between full inbox scans",
    "PIPELINE_REQUEUE_AFTER": "seconds after which an upload enqueued but never taken is sent again",
    "PIPELINE_POLICY": "policy TOML of limits and severities (default: the shipped one)",
    "PIPELINE_MAX_RETRIES": "retries of a failing package before it is quarantined as INTERNAL",
    "PIPELINE_MIN_BACKOFF_MS": "first retry delay of a failing package",
    "PIPELINE_MAX_BACKOFF_MS": "longest retry delay of a failing package",
    "PIPELINE_PACKAGE_TIME_LIMIT_MS": "hard time limit of one package's processing",
    "PIPELINE_HEARTBEAT_TIMEOUT_MS": "a worker silent this long is presumed dead (its messages come back)",
    "PIPELINE_MAINTENANCE_CHANCE": "broker maintenance chance, out of a million commands",
    "PIPELINE_LEASE_SECONDS": "a worker's lease on a package it works on",
    "PIPELINE_WORKER_POLL_MS": "an idle worker looks for new messages at least this often",
    "PIPELINE_FAULT_POINTS": "fault injection for the reliability tests; never in production",
    "SMTP_URL": "mail server of the receipts, smtp[s]://user:pass@host:port (unset: .eml files in DATA/outbox)",
    "MAIL_FROM": "From of receipt mails (required with SMTP_URL)",
    "OPERATOR_EMAIL": "the operator's address: unmatched uploads, INTERNAL, Reply-To (required with SMTP_URL)",
    "PIPELINE_INSTITUTIONS": "institution registry TOML: accounts and addresses (docs/mail.md)",
    "PIPELINE_MAIL_MIN_BACKOFF_MS": "first retry delay of a refused receipt mail",
    "PIPELINE_MAIL_MAX_BACKOFF_MS": "longest retry delay of a refused receipt mail",
    "PIPELINE_SMTP_TIMEOUT": "seconds an SMTP step may take",
    "PIPELINE_METRICS_PORT": "Prometheus endpoint port (0: off)",
    "PIPELINE_METRICS_ADDR": "address the Prometheus endpoint binds",
    "DATABASE_URL": "the catalogue database, postgresql://user:password@host:port/dbname "
                    "(unset: SQLite at DATA/catalogue.sqlite3; never printed)",
    "PIPELINE_CATALOGUE_KEY": "secret key of the catalogue's keyed hash of ID numbers, >= 32 characters "
                              "(required with DATABASE_URL; unset: made once in DATA/catalogue.key)",
    "PIPELINE_WEB_PORT": "port of the web application (`pipeline run` and `pipeline web`; 0: `pipeline run` serves none)",
    "PIPELINE_WEB_ADDR": "address the web application binds (behind a reverse proxy: keep 127.0.0.1)",
    "PIPELINE_WEB_HTTPS": "1 behind the TLS reverse proxy: session cookies over HTTPS only, HSTS",
    "PIPELINE_WEB_SECRET": "signs the web session cookies, >= 32 characters (unset: made once in DATA/web.key)",
    "PIPELINE_WEB_TRUSTED_PROXIES": "with PIPELINE_WEB_HTTPS: the reverse proxy's addresses or networks (comma "
                                    "separated) whose X-Forwarded-For/-Proto are believed",
    "PIPELINE_WEB_PUBLIC_URL": "the web application's address as institutions reach it (https://host): every "
                               "receipt mail links to its package's page there (unset: no link)",
}

_STORE = ("PIPELINE_DATA_DIR", "REDIS_URL", "PIPELINE_NAMESPACE", "PIPELINE_STORAGE", "S3_ENDPOINT",
          "S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_SECURE", "S3_REGION", "S3_INBOX_BUCKET", "S3_ARCHIVE_BUCKET",
          "S3_QUARANTINE_BUCKET", "PIPELINE_UTC_OFFSET_HOURS", "PIPELINE_LOG_FORMAT", "PIPELINE_LOG_LEVEL",
          "DATABASE_URL", "PIPELINE_CATALOGUE_KEY")
_WATCH = ("PIPELINE_QUIET_PERIOD", "PIPELINE_FOLDER_QUIET_PERIOD", "PIPELINE_STALE_UPLOAD_TIMEOUT",
          "PIPELINE_SCAN_INTERVAL", "PIPELINE_REQUEUE_AFTER", "PIPELINE_LOG_FILE", "PIPELINE_METRICS_PORT",
          "PIPELINE_METRICS_ADDR")
_WORK = ("PIPELINE_WORKER_THREADS", "PIPELINE_MAIL_THREADS", "PIPELINE_POLICY", "PIPELINE_MAX_RETRIES",
         "PIPELINE_MIN_BACKOFF_MS", "PIPELINE_MAX_BACKOFF_MS", "PIPELINE_PACKAGE_TIME_LIMIT_MS",
         "PIPELINE_HEARTBEAT_TIMEOUT_MS", "PIPELINE_MAINTENANCE_CHANCE", "PIPELINE_LEASE_SECONDS",
         "PIPELINE_WORKER_POLL_MS", "PIPELINE_REQUEUE_AFTER", "SMTP_URL", "MAIL_FROM", "OPERATOR_EMAIL",
         "PIPELINE_INSTITUTIONS", "PIPELINE_MAIL_MIN_BACKOFF_MS", "PIPELINE_MAIL_MAX_BACKOFF_MS",
         "PIPELINE_SMTP_TIMEOUT", "PIPELINE_WEB_PUBLIC_URL", "PIPELINE_LOG_FILE", "PIPELINE_METRICS_PORT",
         "PIPELINE_METRICS_ADDR")

#: command -> the settings it reads; a command not listed reads the store's (operator commands)
COMMAND_SETTINGS: dict[str, tuple[str, ...]] = {
    "run": tuple(ENV_NAMES),
    "watch": _STORE + _WATCH,
    "worker": _STORE + _WORK,
    # offline tools: their options say everything, no setting is read
    "check": (), "media": (), "example": (), "template": (), "forms": (),
    "requeue": _STORE + ("PIPELINE_POLICY",),
    # the report's distance and daily maximum; the rebuild reads ZIPs under the policy's limits
    "integrity": _STORE + ("PIPELINE_POLICY",),
    "catalogue": _STORE + ("PIPELINE_POLICY",),
    "web": _STORE + ("PIPELINE_POLICY", "PIPELINE_INSTITUTIONS", "PIPELINE_WEB_PORT", "PIPELINE_WEB_ADDR",
                     "PIPELINE_WEB_HTTPS", "PIPELINE_WEB_SECRET", "PIPELINE_WEB_TRUSTED_PROXIES", "PIPELINE_LOG_FILE"),
    "web-user": _STORE + ("PIPELINE_INSTITUTIONS",),
}


def _default(env: str) -> str:
    value = getattr(Settings(), ENV_NAMES[env])
    if env in ("S3_SECRET_KEY", "SMTP_URL", "DATABASE_URL", "PIPELINE_CATALOGUE_KEY") or value in (None, ""):
        return ""
    if isinstance(value, bool):
        value = int(value)
    return f" [default: {value}]"


def settings_epilog(command: str) -> str:
    """The "settings" section of ``pipeline <command> --help``."""
    names = dict.fromkeys(COMMAND_SETTINGS.get(command, _STORE))
    if not names:
        return "settings: none (works offline, without Redis, the store or the pipeline's settings)"
    width = max(len(n) for n in names)
    lines = ["settings (environment variables, or the same settings by field name in the TOML file "
             "named by PIPELINE_CONFIG):"]
    lines += [f"  {name:<{width}}  {SETTING_HELP[name]}{_default(name)}" for name in names]
    return "\n".join(lines)
