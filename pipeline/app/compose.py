"""The composition root: the one place where the settings become objects.

Every entry point (the worker boot, the watcher, ``pipeline run``'s children, the
operator commands, ``pipeline requeue``) builds one :class:`Composition` from its frozen
:class:`~pipeline.app.settings.Settings` and takes what it needs from it. Each part is
built on first use and once per composition, so a process that only watches never
builds a mailer, and the lower rooms never see the settings: they get the values they
need.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any, Callable, Sequence

import redis
from dramatiq.brokers.redis import RedisBroker

from pipeline.app.redis_server import embedded_redis_url
from pipeline.app.settings import Settings
from pipeline.catalogue.database import open_engine
from pipeline.catalogue.decisions import DecisionCatalogue
from pipeline.catalogue.lookup import CatalogueLookup
from pipeline.catalogue.web_accounts import WebAccounts
from pipeline.check.documents import local_zone
from pipeline.check.files import write_if_absent
from pipeline.check.privacy import keyed_hash
from pipeline.check.policy import Policy, load_policy
from pipeline.check.view import Check
from pipeline.intake.deciding import Services
from pipeline.intake.faults import FaultPoints
from pipeline.intake.ledger import Ledger, MemoryLedger, RedisLedger
from pipeline.intake.local_store import LocalStore
from pipeline.intake.store import Store, StoreError
from pipeline.notify.mailer import OUTBOX_FROM, OUTBOX_OPERATOR, Mailer
from pipeline.notify.message import build_receipt_mail
from pipeline.notify.records import JournalledStates, SendRecords
from pipeline.notify.registry import Registry, load_registry
from pipeline.notify.transport import OutboxTransport, SmtpTarget, SmtpTransport, Transport
from pipeline.intake.disk_space import DiskFullReports
from pipeline.intake.inventory import inventory_of
from pipeline.ops.metrics import Counters, lazy, offer_endpoint
from pipeline.ops.presence import Presence
from pipeline.ops.queries import BrokerView, Ops, OpsError
from pipeline.ops.recovery import RedisRestore
from pipeline.intake.self_checks import SelfChecks
from workers.actors import ActorOptions
from workers.broker import (BootHooks, BrokerConfig, build_broker, live_broker_clients, queue_depths,
                            send_decided, send_ingest, send_self_check)

if TYPE_CHECKING:  # minio only where S3 is used: a fifth of a second less at every process start
    from minio import Minio

    from pipeline.intake.s3_store import S3Store


class NoRedis(RuntimeError):
    """Neither ``REDIS_URL`` nor a running ``pipeline run`` on this data directory."""


class NoS3(RuntimeError):
    """``PIPELINE_STORAGE=s3`` without ``S3_ENDPOINT``."""


def _kept_secret(path: Path) -> str:
    """The secret kept in ``path``, made (64 hex characters, readable by its owner only) by
    the first process that needs it; another process racing it reads the first's."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_if_absent(path, (secrets.token_hex(32) + "\n").encode("ascii"))  # the first process's wins
        path.chmod(0o600)
    return path.read_text(encoding="ascii").strip()


class Composition:
    """Settings in; store, ledger, services, mailer, index, counters, broker and the
    operator's view out, each built once, on first use."""

    def __init__(self, settings: Settings, *, ledger: Ledger | None = None,
                 checks: Sequence[Check] | None = None, clock: Callable[[], datetime] | None = None) -> None:
        """``ledger``, ``checks`` and ``clock`` replace the settings' choice (tests: an
        in-memory ledger, only some checks, a fixed clock)."""
        self.settings = settings
        self._ledger = ledger
        self._checks = checks
        self._clock = clock or (lambda: datetime.now(timezone.utc))

    # -- Redis ---------------------------------------------------------------------------
    @cached_property
    def redis_url(self) -> str:
        """``REDIS_URL``, else the embedded Redis of a ``pipeline run`` on this data directory."""
        url = self.settings.redis_url or embedded_redis_url(self.settings)
        if not url:
            raise NoRedis(f"REDIS_URL is not set and no `pipeline run` is running on {self.settings.data_dir} "
                          f"(set REDIS_URL to the pipeline's Redis, or PIPELINE_DATA_DIR to its data directory)")
        return url

    @cached_property
    def redis(self) -> redis.Redis:
        """One client (a connection pool) for every record this process keeps in Redis."""
        return redis.Redis.from_url(self.redis_url, decode_responses=True, health_check_interval=30,
                                    socket_connect_timeout=5)

    @property
    def zone(self) -> tzinfo:
        return local_zone(self.settings.utc_offset_hours)

    # -- intake --------------------------------------------------------------------------
    @cached_property
    def ledger(self) -> Ledger:
        return self._ledger if self._ledger is not None else RedisLedger(self.redis, self.settings.namespace)

    @cached_property
    def s3_client(self) -> Minio:
        """The SDK client of ``S3_ENDPOINT`` (its own HTTP pool: retries 5xx 5 times)."""
        s = self.settings
        if not s.s3_endpoint:
            raise NoS3("S3_ENDPOINT is not set")
        from minio import Minio

        return Minio(s.s3_endpoint, access_key=s.s3_access_key, secret_key=s.s3_secret_key,
                     secure=s.s3_secure, region=s.s3_region)

    def _s3_store(self, ledger: Ledger | None = None) -> S3Store:
        """The S3 store on ``ledger`` (default: the composition's)."""
        s = self.settings
        from pipeline.intake.s3_store import S3Store

        return S3Store(self.s3_client, ledger if ledger is not None else self.ledger, inbox_bucket=s.s3_inbox_bucket,
                       archive_bucket=s.s3_archive_bucket, quarantine_bucket=s.s3_quarantine_bucket,
                       region=s.s3_region)

    @cached_property
    def store(self) -> Store:
        """The store ``PIPELINE_STORAGE`` names, ready to use: the folders under the data
        directory (fs), or the S3 buckets (s3; claims are records in the ledger)."""
        if self.settings.storage == "s3":
            store = self._s3_store()
            store.ensure_buckets()
            self.settings.work_dir.mkdir(parents=True, exist_ok=True)  # scratch stays local
            return store
        local = LocalStore(self.settings.data_dir)
        local.ensure_layout()
        return local

    @cached_property
    def policy(self) -> Policy:
        return load_policy(self.settings.policy_path)

    @cached_property
    def faults(self) -> FaultPoints:
        return FaultPoints(self.settings.fault_points, self.settings.data_dir / "faults")

    @cached_property
    def services(self) -> Services:
        """What deciding an upload needs (pipeline/intake/deciding.py)."""
        s = self.settings
        return Services(policy=self.policy, store=self.store, ledger=self.ledger, clock=self._clock,
                        zone=self.zone, work_dir=s.work_dir, lease_seconds=s.lease_seconds,
                        requeue_after=s.requeue_after, checks=self._checks, faults=self.faults,
                        disk_reports=DiskFullReports(s.work_dir, s.data_dir if s.storage != "s3" else None),
                        integrity=self.catalogue_lookup, person_key=self.person_key)

    # -- the catalogue -------------------------------------------------------------------
    @cached_property
    def catalogue_engine(self) -> Any:
        """The catalogue database (``DATABASE_URL``, else SQLite under the data directory),
        migrated to the newest schema on first use."""
        return open_engine(self.settings.catalogue_url)

    @cached_property
    def catalogue(self) -> DecisionCatalogue:
        """Every decision and accepted package's facts (pipeline/catalogue/decisions.py); it
        also counts each decision once (the metrics)."""
        return DecisionCatalogue(self.catalogue_engine)

    @cached_property
    def catalogue_lookup(self) -> CatalogueLookup:
        return CatalogueLookup(self.catalogue_engine)

    @cached_property
    def catalogue_key(self) -> bytes:
        """The secret of the keyed hash of ID numbers: ``PIPELINE_CATALOGUE_KEY``, or (the
        embedded default only: the settings refuse a DATABASE_URL without a key) the one
        made on first use and kept in <data dir>/catalogue.key, readable by its owner only."""
        s = self.settings
        return (s.catalogue_key or _kept_secret(s.catalogue_key_file)).encode("utf-8")

    @property
    def person_key(self) -> Callable[[str], str]:
        """The keyed hash of an ID number (pipeline/check/privacy.py)."""
        return partial(keyed_hash, self.catalogue_key)

    # -- web ------------------------------------------------------------------------------
    @cached_property
    def web_secret(self) -> str:
        """Signs the web session cookies: ``PIPELINE_WEB_SECRET``, else one made on first use
        and kept in <data dir>/web.key (readable by its owner only): every web process of a
        data directory shares it, and sessions survive a restart."""
        return self.settings.web_secret or _kept_secret(self.settings.web_secret_file)

    @cached_property
    def web_accounts(self) -> WebAccounts:
        return WebAccounts(self.catalogue_engine)

    def web_app(self) -> Any:
        """The web application (pipeline/web), given the library objects its pages read; it
        works with Redis down (the catalogue and the store are enough to read)."""
        from pipeline.intake.browser_uploads import BrowserUploads, PresignedUploads
        from pipeline.web.app import build_app  # Starlette and Jinja2: only where the web is served
        from pipeline.web.media import PackageMedia
        from pipeline.web.services import WebConfig, WebServices

        from pipeline.catalogue.inspection import media_pairs_of, trace_number

        def reused_files(receipt_id: str) -> list[Any]:
            return media_pairs_of(self.catalogue_engine, self.policy.integrity.photo_hash_distance, receipt_id)

        def trace(number: str) -> dict[str, Any]:
            return trace_number(self.catalogue_engine, self.person_key, number, datetime.now(self.zone).date())

        ops = self.ops()
        s = self.settings
        presigned = None
        if s.storage == "s3":
            inbox = self._s3_store(MemoryLedger())  # names and the client only: no Redis needed
            presigned = PresignedUploads(inbox.client, inbox.inbox_bucket, inbox.inbox_prefix)
        # the largest package taken: the archive's limit, plus room for its own directory
        uploads = BrowserUploads(s.data_dir / "uploads", s.inbox_dir, self.policy.zip.max_total_bytes + 2**26)
        services = WebServices(accounts=self.web_accounts, catalogue=self.catalogue, receipt=ops.receipt,
                               undecided=ops.undecided, requeue=self._web_requeue,
                               status=lambda: self.ops().status(), counters=self.catalogue.counter_values,
                               trace=trace, media_pairs=reused_files, policy=self.policy, institution_of=self._institution_of,
                               media=PackageMedia(partial(self._package_zip, ops), self.settings.work_dir / "web-media"),
                               uploads=uploads, presigned=presigned, self_checks=self.self_checks,
                               send_self_check=self._web_send_self_check, mail=self._web_mail,
                               zone=self.zone,
                               now=lambda: datetime.now(self.zone))
        origin = f"{'https' if s.s3_secure else 'http'}://{s.s3_endpoint}" if presigned is not None else None
        return build_app(services, WebConfig(secret=self.web_secret, https_only=s.web_https, upload_origin=origin))

    def _package_zip(self, ops: Ops, receipt_id: str, scratch: Path) -> Path | None:
        """The local path of a decision's stored ZIP (an S3 store downloads it into
        ``scratch``), or None when there is none (removed by retention, or a duplicate's)."""
        entry = self.catalogue.get(receipt_id)
        if entry is None:
            return None
        try:
            path = ops.inventory.local_zip(entry["location"], ops.package_file_of(entry["location"], entry["name"]),
                                           scratch)
        except (StoreError, OSError):
            return None
        return path if path.is_file() else None

    def _web_requeue(self, receipt_id: str) -> dict[str, Any]:
        """``pipeline requeue RECEIPT_ID`` for the web's operator: OpsError when Redis (the
        queue) cannot be reached."""
        ops = self.ops(need_redis=True)
        [result] = ops.requeue(ops.requeue_selection([receipt_id], None, []), send=self.send_ingest)
        return result

    def _web_mail(self, receipt_id: str, document: dict[str, Any]) -> dict[str, Any] | None:
        """The receipt mail of a decision as the web shows it: how far its sending got (the
        journal's durable state: no Redis needed) and the mail itself, made again from the
        document as the mailer makes it (recipients as the registry has them now). None
        while no attempt to send it was recorded."""
        state = JournalledStates(self.store).read(receipt_id)
        if state is None:
            return None
        s = self.settings
        mail = build_receipt_mail(document, registry=self.registry, mail_from=s.mail_from or OUTBOX_FROM,
                                  operator_email=s.operator_email or OUTBOX_OPERATOR, now=datetime.now(self.zone),
                                  web_url=s.web_public_url)
        text = mail.message.get_body(preferencelist=("plain",))
        return {"state": state.get("state"), "at": datetime.fromtimestamp(float(state.get("at") or 0), self.zone),
                "to": list(mail.recipients), "subject": str(mail.message["Subject"]),
                "text": text.get_content() if text is not None else ""}

    def _web_send_self_check(self, check_id: str) -> None:
        """Queue a self-check for the workers; OpsError when Redis cannot be reached."""
        problem = self.redis_problem()
        if problem is not None:
            raise OpsError(problem)
        send_self_check(self.broker, check_id)

    @cached_property
    def self_checks(self) -> SelfChecks:
        """The web's self-checks (自查，未上报) in the data folder: the web writes, workers check."""
        return SelfChecks(self.settings.data_dir / "self-checks")

    def _institution_of(self, account: str) -> str | None:
        found = self.registry.match(account)
        return found.institution.name if found else None

    # -- notify --------------------------------------------------------------------------
    @cached_property
    def registry(self) -> Registry:
        """The institution registry (read once; a malformed one raises RegistryError
        naming the line)."""
        return load_registry(self.settings.institutions_path)

    @cached_property
    def mail_transport(self) -> Transport:
        if self.settings.smtp_url:
            return SmtpTransport(SmtpTarget.parse(self.settings.smtp_url), timeout=self.settings.smtp_timeout)
        return OutboxTransport(self.settings.data_dir / "outbox")

    @cached_property
    def send_records(self) -> SendRecords:
        """How far each receipt's mail got (Redis; pipeline/notify/records.py)."""
        return SendRecords(self.redis, self.settings.namespace)

    @cached_property
    def mailer(self) -> Mailer:
        """The receipt mailer (SMTP_URL, or the outbox under the data directory)."""
        s, zone = self.settings, self.zone
        return Mailer(records=self.send_records, transport=self.mail_transport,
                      registry=self.registry, mail_from=s.mail_from or OUTBOX_FROM,
                      operator_email=s.operator_email or OUTBOX_OPERATOR,
                      read_document=self.store.read_document, clock=lambda: datetime.now(zone),
                      on_result=self.counters.mail, journal=self.store, web_url=s.web_public_url)

    # -- ops -----------------------------------------------------------------------------
    @cached_property
    def counters(self) -> Counters:
        """The metrics counters, in the catalogue (pipeline/ops/metrics.py)."""
        return Counters(self.catalogue)

    def redis_problem(self) -> str | None:
        """Why Redis cannot be reached now, or None when it answers."""
        try:
            self.redis.ping()
        except NoRedis as exc:
            return str(exc)
        except redis.RedisError as exc:
            return f"cannot reach Redis at {self.redis_url}: {exc}"
        return None

    def ops(self, *, need_redis: bool = False) -> Ops:
        """The operator's view. It reads the catalogue and the store, so ``find``, ``status``
        and ``receipt`` work with Redis down (what only Redis knows is then said to be
        unknown); ``need_redis``: OpsError when Redis cannot be reached (``requeue``)."""
        problem = self.redis_problem()
        if problem is not None and need_redis:
            raise OpsError(problem)
        s = self.settings
        # the operator's view reads the store without creating its folders or buckets. With
        # Redis away, an S3 store's claims (kept in Redis) are not known: it reads the
        # buckets with an empty ledger of its own
        if s.storage == "s3":
            store: Any = self._s3_store(None if problem is None else MemoryLedger())
        else:
            store = LocalStore(s.data_dir)
        broker = BrokerView(queue_depths=lambda: queue_depths(self.redis, s.broker_namespace),
                            live_clients=lambda: live_broker_clients(self.redis, s.broker_namespace,
                                                                     s.heartbeat_timeout_ms))
        client = self.redis if problem is None else None
        return Ops(client=client, namespace=s.namespace, store=store,
                   inventory=inventory_of(store, s.folder_quiet_period),
                   catalogue=self.catalogue, ledger=RedisLedger(client, s.namespace) if client is not None else None,
                   counters=self.counters, broker=broker, zone=self.zone, storage=s.storage,
                   requeue_after=s.requeue_after, stale_upload_timeout=s.stale_upload_timeout,
                   redis_problem=problem)

    def redis_restore(self) -> RedisRestore | None:
        """What restores an emptied Redis from the store (pipeline/ops/recovery.py), on
        the ledger's Redis; None when the ledger is not in Redis (tests' memory ledger)."""
        ledger = self.ledger
        if not isinstance(ledger, RedisLedger):
            return None
        return RedisRestore(store=self.store,
                            inventory=inventory_of(self.store, self.settings.folder_quiet_period), ledger=ledger,
                            clock=lambda: datetime.now(self.zone))

    def serve_metrics(self) -> Any:
        """Offer the metrics endpoint from this process (``PIPELINE_METRICS_PORT``; off when 0)."""
        return offer_endpoint(self.settings.metrics_port, self.settings.metrics_addr, lazy(self.ops))

    # -- workers -------------------------------------------------------------------------
    def broker_config(self) -> BrokerConfig:
        s = self.settings
        return BrokerConfig(url=self.redis_url, namespace=s.broker_namespace,
                            heartbeat_timeout_ms=s.heartbeat_timeout_ms, maintenance_chance=s.maintenance_chance,
                            max_retries=s.max_retries, min_backoff_ms=s.min_backoff_ms,
                            max_backoff_ms=s.max_backoff_ms)

    def actor_options(self) -> ActorOptions:
        s = self.settings
        return ActorOptions(max_retries=s.max_retries, min_backoff_ms=s.min_backoff_ms,
                            max_backoff_ms=s.max_backoff_ms, package_time_limit_ms=s.package_time_limit_ms,
                            mail_min_backoff_ms=s.mail_min_backoff_ms, mail_max_backoff_ms=s.mail_max_backoff_ms)

    @cached_property
    def broker(self) -> RedisBroker:
        """The broker of this process. In a worker process its boot hooks record the
        process as alive (``pipeline status``) and offer the metrics endpoint."""
        presence: list[Presence] = []

        def on_boot(worker: Any) -> None:
            if presence:  # the process's second Worker (its mail threads): recorded already
                return
            presence.append(Presence(self.redis, self.settings.namespace, {"threads": worker.worker_threads}))
            presence[0].start()
            self.serve_metrics()

        def on_shutdown() -> None:
            while presence:
                presence.pop().stop()

        return build_broker(self.broker_config(), hooks=BootHooks(on_boot, on_shutdown), faults=self.faults)

    def send_ingest(self, request: dict[str, Any]) -> None:
        """Ask a worker to decide an upload (as the watcher does)."""
        send_ingest(self.broker, request)

    def send_decided(self, outcome: dict[str, Any]) -> None:
        """Announce a stored decision again (the watcher's recovery)."""
        send_decided(self.broker, outcome)
