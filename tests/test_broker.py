"""workers/broker.py against a real Redis: what the watcher and the operator read off
Dramatiq's records, and a message sent by name."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from tests.support.waiting import wait_until
from workers.broker import live_broker_clients, queue_depths, send_ingest, waiting_messages
from workers.queues import INGEST_PACKAGE, PACKAGES, QUEUES


def test_waiting_messages_counts_what_no_worker_fetched_yet(broker: RedisBroker):
    @dramatiq.actor(queue_name="packages-test", broker=broker)
    def noop(n: int) -> None:
        pass

    assert waiting_messages(broker, "packages-test") == 0
    for n in range(3):
        noop.send(n)
    noop.send_with_options(args=(9,), delay=60_000)  # a delayed retry is not waiting
    assert waiting_messages(broker, "packages-test") == 3
    consumer = broker.consume("packages-test", prefetch=2, timeout=1000)
    fetched = [next(consumer), next(consumer)]
    assert all(m is not None for m in fetched)
    assert waiting_messages(broker, "packages-test") == 1  # fetched ones are no longer waiting
    consumer.close()


def test_queue_depths_and_live_clients_read_dramatiq_s_records(broker: RedisBroker, redis_client):
    @dramatiq.actor(queue_name=PACKAGES, broker=broker)
    def noop(n: int) -> None:
        pass

    for n in range(2):
        noop.send(n)
    noop.send_with_options(args=(9,), delay=60_000)
    depths = queue_depths(redis_client, broker.namespace)
    assert depths[PACKAGES] == {"queued": 2, "delayed": 1, "dead": 0}
    assert set(depths) == set(QUEUES)
    assert live_broker_clients(redis_client, broker.namespace, 15_000) >= 1  # this broker sent
    assert live_broker_clients(redis_client, "nobody-here", 15_000) == 0


def test_send_ingest_reaches_the_ingest_actor_by_name(broker: RedisBroker, worker):
    received: list[dict] = []

    @dramatiq.actor(queue_name=PACKAGES, actor_name=INGEST_PACKAGE, broker=broker)
    def ingest_package(request: dict) -> None:
        received.append(request)

    send_ingest(broker, {"location": "a.zip", "size": 1, "stamp": "1"})
    wait_until(lambda: received, 10, message="the ingest message")
    assert received == [{"location": "a.zip", "size": 1, "stamp": "1"}]
