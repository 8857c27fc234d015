"""The worker-side composition root: settings, logging, broker and services, built once
per process from the environment."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import cached_property

from pipeline.config import Settings, load_settings
from pipeline.intake import Services
from pipeline.ledger import RedisLedger
from pipeline.logs import configure_logging
from pipeline.policy import load_policy
from pipeline.store import LocalStore
from workers.broker import setup_broker


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        configure_logging(settings.log_format, settings.log_level, process_name="worker")
        self.broker = setup_broker(settings)

    @cached_property
    def _services(self) -> Services:
        store = LocalStore(self.settings.data_dir)
        store.ensure_layout()
        assert self.settings.redis_url
        return Services(settings=self.settings, policy=load_policy(self.settings.policy_path), store=store,
                        ledger=RedisLedger.from_url(self.settings.redis_url, self.settings.namespace),
                        clock=lambda: datetime.now(timezone.utc))

    def services(self) -> Services:
        return self._services


runtime = Runtime(load_settings())
