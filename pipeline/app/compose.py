"""The worker-side composition root: settings, logging, broker and services, built once
per process from the environment."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import cached_property

from pipeline.app.settings import Settings, load_settings
from pipeline.check.documents import local_zone
from pipeline.notify.registry import Registry, load_registry
from pipeline.intake.faults import FaultPoints
from pipeline.ops.index import DecisionIndex
from pipeline.intake.deciding import Services, remove_stale_scratch_at_start
from pipeline.intake.ledger import Ledger, RedisLedger
from pipeline.app.logs import configure_logging
from pipeline.notify.mail import Mailer
from pipeline.ops.metrics import Counters
from pipeline.check.policy import load_policy
from pipeline.intake.store import LocalStore, Store
from workers.broker import setup_broker


def build_store(settings: Settings, ledger: Ledger) -> Store:
    """The store ``PIPELINE_STORAGE`` names, ready to use: the folders under the data
    directory (fs), or the S3 buckets (s3; claims are records in ``ledger``)."""
    if settings.storage == "s3":
        from pipeline.intake.s3_store import S3Store

        store = S3Store.from_settings(settings, ledger)
        store.ensure_buckets()
        settings.work_dir.mkdir(parents=True, exist_ok=True)  # scratch stays local
        return store
    local = LocalStore(settings.data_dir)
    local.ensure_layout()
    return local


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        configure_logging(settings.log_format, settings.log_level, process_name="worker")
        self.broker = setup_broker(settings)
        #: read once at start: a malformed registry stops start-up (RegistryError names the line)
        self.registry: Registry = load_registry(settings.institutions_path)
        # Once per process, before any actor runs: every way of starting workers
        # (`pipeline worker`, `dramatiq workers.actors`, the units, compose) gets it.
        remove_stale_scratch_at_start(settings.work_dir)

    @cached_property
    def _services(self) -> Services:
        assert self.settings.redis_url
        ledger = RedisLedger.from_url(self.settings.redis_url, self.settings.namespace)
        return Services(settings=self.settings, policy=load_policy(self.settings.policy_path),
                        store=build_store(self.settings, ledger), ledger=ledger,
                        clock=lambda: datetime.now(timezone.utc),
                        faults=FaultPoints(self.settings.fault_points, self.settings.data_dir / "faults"))

    def services(self) -> Services:
        return self._services

    @cached_property
    def _mailer(self) -> Mailer:
        zone = local_zone(self.settings.utc_offset_hours)
        return Mailer.from_settings(self.settings, self.registry, self.services().store.read_document,
                                    clock=lambda: datetime.now(zone), on_result=self.counters().mail)

    def mailer(self) -> Mailer:
        """The receipt mailer (SMTP_URL, or the outbox under the data directory)."""
        return self._mailer

    @cached_property
    def _index(self) -> DecisionIndex:
        assert self.settings.redis_url
        return DecisionIndex.from_url(self.settings.redis_url, self.settings.namespace)

    def index(self) -> DecisionIndex:
        """The decision index (pipeline/ops/index.py), which also counts each decision once."""
        return self._index

    @cached_property
    def _counters(self) -> Counters:
        assert self.settings.redis_url
        return Counters.from_url(self.settings.redis_url, self.settings.namespace)

    def counters(self) -> Counters:
        """The metrics counters in Redis (pipeline/ops/metrics.py)."""
        return self._counters


runtime = Runtime(load_settings())
