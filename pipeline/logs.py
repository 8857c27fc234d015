"""Structured logging: JSON lines for machines, a readable console for people.

Every log line passes :func:`_redact_personal_numbers` last before rendering, so no full
ID or phone number can reach a log, whatever a caller passed.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

from pipeline.privacy import redact_value


#: values that are identifiers we mint or digests, never personal numbers: a hex digest
#: may hold a long digit run, and masking it would break the trail an operator follows
_NOT_PERSONAL = frozenset({"sha256", "version", "receipt_id", "message_id", "timestamp", "duplicate_of",
                           "supersedes", "holder"})


def _redact_personal_numbers(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    return {key: value if key in _NOT_PERSONAL else redact_value(value) for key, value in event_dict.items()}


def configure_logging(log_format: str = "auto", level: str = "info", stream: TextIO | None = None,
                      process_name: str | None = None) -> None:
    """Configure structlog (and the stdlib root logger, for Dramatiq's own lines)."""
    stream = stream or sys.stderr
    as_json = log_format == "json" or (log_format == "auto" and not stream.isatty())
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if process_name:
        shared.append(_add_process(process_name))
    renderer: Any = (structlog.processors.JSONRenderer(ensure_ascii=False) if as_json
                     else structlog.dev.ConsoleRenderer(colors=stream.isatty()))
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, _redact_personal_numbers, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # WriteLogger: one write of line + newline (print() makes two, and lines of
        # processes sharing one stderr got glued together between them)
        logger_factory=structlog.WriteLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    # Dramatiq and other libraries log through the stdlib: route them through the same
    # renderer so operators read one format.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    _redact_personal_numbers, renderer],
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.INFO) if numeric < logging.INFO else numeric)


def _add_process(name: str) -> Any:
    def add(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        event_dict.setdefault("process", name)
        return event_dict
    return add


def get_logger(**context: Any) -> Any:
    return structlog.get_logger().bind(**context)


class ProgressLog:
    """Progress of a long loop ("file n of m"), safe to step from several threads.

    Logs ``event`` with ``done``, ``total`` and ``elapsed_s`` at every ``every``-th step and
    whenever ``seconds`` passed since the last line, never at the last step (the caller's
    own closing line follows; ``total`` None: unknown). Carries the context bound where it was created (the
    receipt id), since the steps may run on pool threads that have no context.
    """

    def __init__(self, event: str, total: int | None, *, every: int = 10, seconds: float = 5.0,
                 **fields: Any) -> None:
        import threading
        import time

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
