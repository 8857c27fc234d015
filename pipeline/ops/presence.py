"""Which worker processes are alive, for ``pipeline status`` and the metrics.

Every worker process (``pipeline worker`` or ``dramatiq pipeline.app.worker:setup``; the
worker boot starts it through the ``BootHooks`` middleware of ``workers/broker.py``) records itself every
:data:`BEAT_SECONDS` in Redis::

    <ns>:workers       zset  <host>-<pid> scored by its last beat (epoch seconds)
    <ns>:workers:info  hash  <host>-<pid> -> {"host", "pid", "threads", "started_at"}

A process that beat within :data:`ALIVE_SECONDS` is alive; a clean stop removes its entry.
Dramatiq's own heartbeats (``<ns>-dramatiq:__heartbeats__``) are not used for this: every
broker client that sends a message beats there too (the watcher, ``pipeline requeue``),
so they cannot tell workers apart.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from typing import Any

import redis

BEAT_SECONDS = 5.0
ALIVE_SECONDS = 20.0
FORGET_SECONDS = 24 * 3600.0


def identity() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Presence:
    def __init__(self, client: redis.Redis, namespace: str, info: dict[str, Any]) -> None:
        self.client = client
        self.key = f"{namespace}:workers"
        self.info_key = f"{namespace}:workers:info"
        self.id = identity()
        self.info = {"host": socket.gethostname(), "pid": os.getpid(),
                     "started_at": time.time(), **info}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        with self.client.pipeline() as pipe:
            pipe.zadd(self.key, {self.id: time.time()})
            pipe.hset(self.info_key, self.id, json.dumps(self.info))
            pipe.execute()

    def start(self) -> None:
        def run() -> None:
            while True:
                try:
                    self.beat()
                except redis.RedisError:
                    pass  # Redis away: the next beat tries again
                if self._stop.wait(BEAT_SECONDS):
                    return

        self._thread = threading.Thread(target=run, name="presence", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        try:
            with self.client.pipeline() as pipe:
                pipe.zrem(self.key, self.id)
                pipe.hdel(self.info_key, self.id)
                pipe.execute()
        except redis.RedisError:
            pass


def alive(client: redis.Redis, namespace: str, now: float | None = None) -> list[dict[str, Any]]:
    """The worker processes that beat within ALIVE_SECONDS, with their last beat's age."""
    now = time.time() if now is None else now
    key, info_key = f"{namespace}:workers", f"{namespace}:workers:info"
    forgotten = client.zrangebyscore(key, "-inf", now - FORGET_SECONDS)
    if forgotten:  # long dead without a clean stop (killed): tidy up
        client.zrem(key, *forgotten)
        client.hdel(info_key, *forgotten)
    beats = client.zrangebyscore(key, now - ALIVE_SECONDS, "+inf", withscores=True)
    if not beats:
        return []
    infos = client.hmget(info_key, [member for member, _ in beats])
    out = []
    for (member, score), raw in zip(beats, infos):
        info = json.loads(raw) if raw else {}
        out.append({"id": member, "host": info.get("host"), "pid": info.get("pid"),
                    "threads": info.get("threads"), "last_beat_s": round(now - float(score), 1)})
    return sorted(out, key=lambda w: w["id"])
