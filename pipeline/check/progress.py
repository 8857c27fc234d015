"""Progress of long loops as log lines ("file n of m"), for the media checks and the
operator commands alike."""

from __future__ import annotations

import threading
import time
from typing import Any

import structlog


class ProgressLog:
    """Progress of a long loop ("file n of m"), safe to step from several threads.

    Logs ``event`` with ``done``, ``total`` and ``elapsed_s`` at every ``every``-th step and
    whenever ``seconds`` passed since the last line, never at the last step (the caller's
    own closing line follows; ``total`` None: unknown). Carries the context bound where it was created (the
    receipt id), since the steps may run on pool threads that have no context.
    """

    def __init__(self, event: str, total: int | None, *, every: int = 10, seconds: float = 5.0,
                 **fields: Any) -> None:
        self._time = time.monotonic
        self.event, self.total, self.every, self.seconds = event, total, max(1, every), seconds
        self.fields = {**structlog.contextvars.get_contextvars(), **fields}
        self.done = 0
        self._started = self._last = self._time()
        self._lock = threading.Lock()

    def step(self, *_: Any) -> None:
        with self._lock:
            self.done += 1
            done, now = self.done, self._time()
            due = (self.total is None or done < self.total) and (
                done % self.every == 0 or now - self._last >= self.seconds)
            if due:
                self._last = now
        if due:
            structlog.get_logger().info(self.event, done=done, total=self.total,
                                        elapsed_s=round(now - self._started, 1), **self.fields)
