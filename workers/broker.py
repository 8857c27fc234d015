"""Broker set-up: the Dramatiq Redis broker, tuned for quick recovery of dead workers.

Dramatiq's Redis broker requeues a dead worker's unacknowledged messages only in a
maintenance run of some live worker, triggered at random by ``maintenance_chance`` (per
million commands), once the dead worker's heartbeat is older than ``heartbeat_timeout``.
With the defaults (60 s, 1/1000) that was measured at ~400 s; we run with ~15 s and a high
chance. A task holding the GIL longer than the heartbeat timeout may be run twice; every
step is safe to run twice (see pipeline/intake/deciding.py), so that costs time, not correctness.
"""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Retries

from pipeline.app.settings import Settings
from pipeline.intake.faults import FaultPoints


class WorkerPresence(dramatiq.Middleware):
    """In each worker process: record it as alive in Redis (``pipeline status``, the
    metrics; pipeline/ops/presence.py) and offer the metrics endpoint (pipeline/ops/metrics.py)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._presence: Any = None

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        import redis

        from pipeline.ops.queries import serve_metrics
        from pipeline.ops.presence import Presence

        client = redis.Redis.from_url(self.settings.redis_url, decode_responses=True, health_check_interval=30)
        self._presence = Presence(client, self.settings.namespace, {"threads": worker.worker_threads})
        self._presence.start()
        serve_metrics(self.settings)

    def before_worker_shutdown(self, broker: Any, worker: Any) -> None:
        if self._presence is not None:
            self._presence.stop()


class FaultMiddleware(dramatiq.Middleware):
    """Test-only (``PIPELINE_FAULT_POINTS``): hits ``after_retry_enqueued`` once a failed
    attempt's retry is queued and before the failed message is acknowledged. Dramatiq
    runs ``after_process_message`` hooks in reverse order, so placed before Retries in the
    list this runs after Retries queued the retry; the ack comes after all hooks."""

    def __init__(self, faults: FaultPoints) -> None:
        self.faults = faults

    def after_process_message(self, broker: Any, message: Any, *, result: Any = None,
                              exception: BaseException | None = None) -> None:
        if exception is None or message.failed:  # succeeded, or no retry left (dead-lettered)
            return
        request = message.args[0] if message.args else None
        source = str(request.get("location", "")) if isinstance(request, dict) else ""
        self.faults.hit("after_retry_enqueued", source)


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
    faults = FaultPoints(settings.fault_points, settings.data_dir / "faults")
    if "after_retry_enqueued" in faults.rules:
        broker.add_middleware(FaultMiddleware(faults), before=Retries)
    dramatiq.set_broker(broker)
    return broker


def waiting_messages(broker: RedisBroker, queue_name: str) -> int:
    """Messages queued in ``queue_name`` and not yet fetched by any worker (neither the
    ones being processed nor delayed retries). Dramatiq's Redis broker keeps them in the
    list ``<namespace>:<queue>``; it offers no public call for this count."""
    return int(broker.client.llen(f"{broker.namespace}:{queue_name}"))
