"""Broker set-up: the Dramatiq Redis broker, tuned for quick recovery of dead workers.

Dramatiq's Redis broker requeues a dead worker's unacknowledged messages only in a
maintenance run of some live worker, triggered at random by ``maintenance_chance`` (per
million commands), once the dead worker's heartbeat is older than ``heartbeat_timeout``.
With the defaults (60 s, 1/1000) that was measured at ~400 s; we run with ~15 s and a high
chance. A task holding the GIL longer than the heartbeat timeout may be run twice; every
step is safe to run twice (see pipeline/intake.py), so that costs time, not correctness.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Retries

from pipeline.config import Settings


def setup_broker(settings: Settings) -> RedisBroker:
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set: start workers through `pipeline run`, or set REDIS_URL")
    broker = RedisBroker(
        url=settings.redis_url,
        namespace=f"{settings.namespace}-dramatiq",
        heartbeat_timeout=settings.heartbeat_timeout_ms,
        maintenance_chance=settings.maintenance_chance,
    )
    for middleware in broker.middleware:
        if isinstance(middleware, Retries):
            middleware.max_retries = settings.max_retries
            middleware.min_backoff = settings.min_backoff_ms
            middleware.max_backoff = settings.max_backoff_ms
    dramatiq.set_broker(broker)
    return broker
