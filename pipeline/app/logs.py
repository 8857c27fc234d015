"""Structured logging: JSON lines for machines, a readable console for people.

Every log line passes :func:`_redact_personal_numbers` last before rendering, so no full
ID or phone number can reach a log, whatever a caller passed: the recogniser of personal
numbers (pipeline/check/privacy.py) masks them in every value, nested ones too, and in
the repr of any other object (a path, an exception); identifiers and digests of ours
(receipt ids, versions, SHA-256s) are left alone, so the trail an operator follows stays
whole.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any, TextIO

import structlog

from pipeline.check.privacy import redact_whole

_PLAIN = (str, int, float, bool, type(None))


def _plain(value: Any) -> Any:
    """``value`` with every object the renderers would show by its repr replaced by that
    repr, at any depth, so that the masking sees the text that will be written."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)  # a named tuple too: rendered as a list anyway
    return repr(value)


def _redact_personal_numbers(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    return redact_whole(_plain(event_dict))


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
                    structlog.processors.format_exc_info, _redact_personal_numbers, renderer],
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.INFO) if numeric < logging.INFO else numeric)
    _log_what_python_would_print()


def _log_what_python_would_print() -> None:
    """Uncaught exceptions (of the main thread or any other, e.g. a consumer thread dying
    on a full disk) and warnings become log lines of this format: Python would print them
    raw to stderr, as many lines, in the middle of the JSON log."""
    logging.captureWarnings(True)

    def thread_crashed(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        structlog.get_logger().error("thread.crashed", thread=args.thread.name if args.thread else None,
                                     exc_info=(args.exc_type, args.exc_value, args.exc_traceback))

    def process_crashed(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        structlog.get_logger().critical("process.crashed", exc_info=(exc_type, exc, tb))

    threading.excepthook = thread_crashed
    sys.excepthook = process_crashed


def _add_process(name: str) -> Any:
    def add(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        event_dict.setdefault("process", name)
        return event_dict
    return add


def get_logger(**context: Any) -> Any:
    return structlog.get_logger().bind(**context)
