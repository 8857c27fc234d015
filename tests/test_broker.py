"""workers/broker.py against a real Redis: what the watcher asks the queue."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from tests.support.redisserver import RedisServer
from workers.broker import waiting_messages


def test_waiting_messages_counts_what_no_worker_fetched_yet(redis_server: RedisServer, redis_client):
    broker = RedisBroker(url=redis_server.url, namespace="test-waiting")
    try:
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
    finally:
        broker.close()
