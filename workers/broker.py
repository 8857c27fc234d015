"""The Dramatiq Redis broker, tuned for quick recovery of dead workers, and everything
that knows how Dramatiq keeps its queues in Redis.

Dramatiq's Redis broker requeues a dead worker's unacknowledged messages only in a
maintenance run of some live worker, triggered at random by ``maintenance_chance`` (per
million commands), once the dead worker's heartbeat is older than ``heartbeat_timeout``.
With the defaults (60 s, 1/1000) that was measured at ~400 s; we run with ~15 s and a high
chance. A task holding the GIL longer than the heartbeat timeout may be run twice; every
step is safe to run twice (see pipeline/intake/deciding.py), so that costs time, not
correctness.

Nothing here reads settings: the composition root (pipeline/app/compose.py) passes a
:class:`BrokerConfig`, and the worker boot (pipeline/app/worker.py) is the set-up
callable the Dramatiq CLI is given.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Retries

from pipeline.intake.faults import FaultPoints
from workers.queues import DECISIONS, INGEST_PACKAGE, PACKAGE_DECIDED, PACKAGES, QUEUES, SELF_CHECK, SELF_CHECKS


@dataclass(frozen=True)
class BrokerConfig:
    url: str
    #: the key prefix of Dramatiq's queues in Redis
    namespace: str
    heartbeat_timeout_ms: int
    maintenance_chance: int
    #: the Retries middleware's defaults (each actor may set its own)
    max_retries: int
    min_backoff_ms: int
    max_backoff_ms: int


class BootHooks(dramatiq.Middleware):
    """Runs ``on_boot(worker)`` in each worker process once it has booted and
    ``on_shutdown()`` before it stops: the composition root's presence record and
    metrics endpoint."""

    def __init__(self, on_boot: Callable[[Any], None], on_shutdown: Callable[[], None]) -> None:
        self.on_boot = on_boot
        self.on_shutdown = on_shutdown

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        self.on_boot(worker)

    def before_worker_shutdown(self, broker: Any, worker: Any) -> None:
        self.on_shutdown()


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


def build_broker(config: BrokerConfig, *, hooks: BootHooks | None = None,
                 faults: FaultPoints | None = None) -> RedisBroker:
    """A Redis broker for ``config``; ``hooks`` run at worker boot and shutdown;
    ``faults`` arms the test-only ``after_retry_enqueued`` point."""
    broker = RedisBroker(url=config.url, namespace=config.namespace,
                         heartbeat_timeout=config.heartbeat_timeout_ms,
                         maintenance_chance=config.maintenance_chance)
    for middleware in broker.middleware:
        if isinstance(middleware, Retries):
            middleware.max_retries = config.max_retries
            middleware.min_backoff = config.min_backoff_ms
            middleware.max_backoff = config.max_backoff_ms
    if hooks is not None:
        broker.add_middleware(hooks)
    if faults is not None and "after_retry_enqueued" in faults.rules:
        broker.add_middleware(FaultMiddleware(faults), before=Retries)
    return broker


def send_ingest(broker: RedisBroker, request: dict[str, Any]) -> None:
    """Ask a worker to decide one upload (an ``IngestRequest``'s JSON), from a process
    that has no actors declared (the watcher, ``pipeline requeue``)."""
    broker.enqueue(dramatiq.Message(queue_name=PACKAGES, actor_name=INGEST_PACKAGE, args=(request,),
                                    kwargs={}, options={}))


def send_decided(broker: RedisBroker, outcome: dict[str, Any]) -> None:
    """Announce a stored decision again (the watcher's recovery of a decision whose
    follow-up message Redis lost; pipeline/intake/announcements.py)."""
    broker.enqueue(dramatiq.Message(queue_name=DECISIONS, actor_name=PACKAGE_DECIDED, args=(outcome,),
                                    kwargs={}, options={}))


def send_self_check(broker: RedisBroker, check_id: str) -> None:
    """Ask a worker to check a self-check's ZIP (pipeline/intake/self_checks.py), from the web."""
    broker.enqueue(dramatiq.Message(queue_name=SELF_CHECKS, actor_name=SELF_CHECK, args=(check_id,),
                                    kwargs={}, options={}))


# -- Dramatiq's keys in Redis ----------------------------------------------------------------
# Dramatiq offers no public call for these counts; tests/test_broker.py notices a change of
# its layout.

def waiting_messages(broker: RedisBroker, queue_name: str) -> int:
    """Messages queued in ``queue_name`` and not yet fetched by any worker (neither the
    ones being processed nor delayed retries): the list ``<namespace>:<queue>``."""
    return int(broker.client.llen(f"{broker.namespace}:{queue_name}"))


def queue_depths(client: redis.Redis, namespace: str) -> dict[str, dict[str, int]]:
    """Per queue: ``queued`` (enqueued and not yet done: waiting, fetched or running),
    ``delayed`` (waiting for a retry's backoff) and ``dead`` (given up), read off
    ``<q>.msgs`` and ``<q>.DQ.msgs`` (hashes) and ``<q>.XQ`` (sorted set)."""
    with client.pipeline(transaction=False) as pipe:
        for q in QUEUES:
            pipe.hlen(f"{namespace}:{q}.msgs")
            pipe.hlen(f"{namespace}:{q}.DQ.msgs")
            pipe.zcard(f"{namespace}:{q}.XQ")
        values = pipe.execute()
    return {q: {"queued": int(values[3 * i]), "delayed": int(values[3 * i + 1]), "dead": int(values[3 * i + 2])}
            for i, q in enumerate(QUEUES)}


def live_broker_clients(client: redis.Redis, namespace: str, heartbeat_timeout_ms: int) -> int:
    """Worker processes whose broker heartbeat is younger than the heartbeat timeout."""
    since = time.time() * 1000 - heartbeat_timeout_ms
    return int(client.zcount(f"{namespace}:__heartbeats__", since, "+inf"))
