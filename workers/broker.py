"""Broker set-up: the Dramatiq Redis broker, tuned for quick recovery of dead workers.

Dramatiq's Redis broker requeues a dead worker's unacknowledged messages only in a
maintenance run of some live worker, triggered at random by ``maintenance_chance`` (per
million commands), once the dead worker's heartbeat is older than ``heartbeat_timeout``.
With the defaults (60 s, 1/1000) that was measured at ~400 s; we run with ~15 s and a high
chance. A task holding the GIL longer than the heartbeat timeout may be run twice; every
step is safe to run twice (see pipeline/intake.py), so that costs time, not correctness.
"""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Retries

from pipeline.config import Settings


class WorkerPresence(dramatiq.Middleware):
    """In each worker process: record it as alive in Redis (``pipeline status``, the
    metrics; pipeline/presence.py) and offer the metrics endpoint (pipeline/metrics.py)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._presence: Any = None

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        import redis

        from pipeline.ops import serve_metrics
        from pipeline.presence import Presence

        client = redis.Redis.from_url(self.settings.redis_url, decode_responses=True, health_check_interval=30)
        self._presence = Presence(client, self.settings.namespace, {"threads": worker.worker_threads})
        self._presence.start()
        serve_metrics(self.settings)

    def before_worker_shutdown(self, broker: Any, worker: Any) -> None:
        if self._presence is not None:
            self._presence.stop()


def setup_broker(settings: Settings) -> RedisBroker:
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set: start workers through `pipeline run`, or set REDIS_URL")
    broker = RedisBroker(
        url=settings.redis_url,
        namespace=settings.broker_namespace,
        heartbeat_timeout=settings.heartbeat_timeout_ms,
        maintenance_chance=settings.maintenance_chance,
    )
    for middleware in broker.middleware:
        if isinstance(middleware, Retries):
            middleware.max_retries = settings.max_retries
            middleware.min_backoff = settings.min_backoff_ms
            middleware.max_backoff = settings.max_backoff_ms
    broker.add_middleware(WorkerPresence(settings))
    dramatiq.set_broker(broker)
    return broker
