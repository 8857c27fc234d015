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
import os
import sys
import threading
from pathlib import Path
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


class LogFile:
    """The log file every process of one ``pipeline run`` appends JSON lines to, beside
    its terminal output (``PIPELINE_LOG_FILE``).

    Many processes write it: each line is one ``write`` on a file opened with O_APPEND
    (lines never interleave), and the file is reopened when it was renamed under us —
    :func:`rotate_log_file`, which the supervisor alone runs, renames it aside."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._inode: tuple[int, int] | None = None

    def _open(self) -> int:
        try:
            st = os.stat(self.path)
            current: tuple[int, int] | None = (st.st_dev, st.st_ino)
        except FileNotFoundError:
            current = None
        if self._fd is None or current != self._inode:
            if self._fd is not None:
                os.close(self._fd)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            st = os.fstat(self._fd)
            self._inode = (st.st_dev, st.st_ino)
        return self._fd

    def write(self, line: str) -> None:
        data = (line.rstrip("\n") + "\n").encode("utf-8", "replace")
        with self._lock:
            try:
                os.write(self._open(), data)
            except OSError:
                pass  # a full or vanished disk must not stop the pipeline; stderr still has it


def rotate_log_file(path: Path, max_bytes: int = 20 * 1024 * 1024, keep: int = 5) -> bool:
    """``path`` renamed to ``path.1`` (``.1`` to ``.2`` …, the ``keep``-th dropped) once it
    is larger than ``max_bytes``; the writers reopen the new file on their next line.
    True when it rotated."""
    try:
        if path.stat().st_size <= max_bytes:
            return False
    except FileNotFoundError:
        return False
    for n in range(keep - 1, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists():
            older.replace(path.with_name(f"{path.name}.{n + 1}"))
    path.replace(path.with_name(f"{path.name}.1"))
    return True


def _tee(log_file: LogFile) -> Any:
    """A processor writing each (already masked) line as JSON to ``log_file`` and
    passing it on to the terminal's renderer."""
    render = structlog.processors.JSONRenderer(ensure_ascii=False)

    def tee(logger: Any, name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        log_file.write(str(render(logger, name, dict(event_dict))))
        return event_dict
    return tee


class _FileHandler(logging.Handler):
    """Dramatiq's and other libraries' lines into the log file, as JSON."""

    def __init__(self, log_file: LogFile) -> None:
        super().__init__()
        self.log_file = log_file

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.log_file.write(self.format(record))
        except Exception:
            self.handleError(record)


def for_a_person(log_format: str, stream: TextIO | None = None) -> bool:
    """Whether lines go to a person at a terminal (console lines, banners) rather than to a
    JSON log stream, which stays one JSON object per line."""
    return log_format == "console" or (log_format == "auto" and (stream or sys.stderr).isatty())


def configure_logging(log_format: str = "auto", level: str = "info", stream: TextIO | None = None,
                      process_name: str | None = None, log_file: Path | None = None) -> None:
    """Configure structlog (and the stdlib root logger, for Dramatiq's own lines).
    ``log_file``: also append every line, as JSON, to that file (:class:`LogFile`)."""
    stream = stream or sys.stderr
    as_json = not for_a_person(log_format, stream)
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
    file = LogFile(log_file) if log_file else None
    teed = [_tee(file)] if file else []
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, _redact_personal_numbers, *teed, renderer],
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
    if file:
        to_file = _FileHandler(file)
        to_file.setFormatter(structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        structlog.processors.format_exc_info, _redact_personal_numbers,
                        structlog.processors.JSONRenderer(ensure_ascii=False)],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        ))
        root.handlers.append(to_file)
    root.setLevel(max(numeric, logging.INFO) if numeric < logging.INFO else numeric)
    # Alembic says at info level which dialect it found at every start: noise, not news
    # (a migration it runs is said by its warnings and errors, and by the schema)
    logging.getLogger("alembic").setLevel(max(numeric, logging.WARNING))
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
