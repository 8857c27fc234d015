"""A full disk is a state of the machine, never a verdict on a package.

When the work area, the store's disk or Redis's disk is full, deciding fails with
``OSError(ENOSPC)`` (or ``EDQUOT``), or Redis refuses writes with ``MISCONF`` (it cannot
write its append-only file). Left to the usual retries, each attempt would spend one of
the package's retries, back off longer and longer, and in the end quarantine a good
package as ``INTERNAL``. Instead the attempt is put back without spending a retry and
asked again every :data:`DISK_FULL_RETRY_SECONDS`, so work resumes within seconds of
space coming back; the operator is told once a minute per process (``disk.full``, error
level) what is full and what can be freed.
"""

from __future__ import annotations

import errno
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import structlog

#: how soon a package that met a full disk is asked again
DISK_FULL_RETRY_SECONDS = 10.0
#: at most one ``disk.full`` line per process in this many seconds (every attempt logs
#: its own ``package.waiting_for_space``)
REPORT_EVERY_SECONDS = 60.0

_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def disk_full_cause(exc: BaseException) -> BaseException | None:
    """The exception in ``exc``'s chain (itself, its cause or context) that says a disk
    is full, or None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FULL_ERRNOS:
            return current
        if isinstance(current, redis.exceptions.ResponseError) and str(current).startswith("MISCONF"):
            return current
        current = current.__cause__ or current.__context__
    return None


def _free_bytes(path: Path) -> int | None:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def _size_of(folder: Path) -> int:
    """Bytes in files under ``folder`` (the scratch area: small trees, walked without
    following links)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


@dataclass
class DiskFullReports:
    """Tells the operator about a full disk, at most once per :data:`REPORT_EVERY_SECONDS`.

    ``work_dir`` is the scratch area; ``data_dir`` the store's folders (None for S3)."""

    work_dir: Path
    data_dir: Path | None = None
    _last: float = field(default=-REPORT_EVERY_SECONDS, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def report(self, cause: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < REPORT_EVERY_SECONDS:
                return
            self._last = now
        facts = self.facts(cause)
        structlog.get_logger().error("disk.full", where=facts["where"], error=facts["error"],
                                     free_bytes=facts["free_bytes"], scratch_bytes=facts["scratch_bytes"],
                                     action=facts["action"])

    def facts(self, cause: BaseException) -> dict[str, Any]:
        is_redis = isinstance(cause, redis.exceptions.ResponseError)
        where = "redis" if is_redis else (getattr(cause, "filename", None) or "")
        free = {str(self.work_dir): _free_bytes(self.work_dir)}
        if self.data_dir is not None:
            free[str(self.data_dir)] = _free_bytes(self.data_dir)
        scratch = _size_of(self.work_dir) if self.work_dir.is_dir() else 0
        data = f"{self.data_dir}" if self.data_dir is not None else "the data directory"
        action = ("Redis cannot write its append-only file: free space on the disk of Redis's directory "
                  f"({data}/redis for `pipeline run`)" if is_redis else
                  f"free space on the file system of {where or self.work_dir}")
        action += (f". What can go: scratch left by dead workers in {self.work_dir} ({scratch} bytes now; "
                   "removed by itself when a worker starts), old mails in the outbox, old quarantined "
                   "packages (after their institutions uploaded again: `pipeline prune-quarantine --older-than DAYS "
                   "--dry-run`, then without --dry-run; it keeps their documents). "
                   "Nothing is rejected meanwhile: packages wait in claimed/ and the inbox, and "
                   f"resume within {DISK_FULL_RETRY_SECONDS:.0f} s of space coming back")
        return {"where": str(where), "error": f"{type(cause).__name__}: {cause}"[:300], "free_bytes": free,
                "scratch_bytes": scratch, "action": action}
