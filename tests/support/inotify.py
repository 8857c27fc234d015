"""A small kernel inotify queue, to overflow it with a burst of uploads."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import pytest


@contextlib.contextmanager
def small_inotify_queue(events: int) -> Iterator[None]:
    """Inotify instances created inside the block get a kernel event queue of ``events``
    (the limit is read when an instance is created), so a burst overflows it. Needs root
    (CI runs as root); the system-wide setting is restored when the block ends."""
    limit = Path("/proc/sys/fs/inotify/max_queued_events")
    if os.geteuid() != 0:
        pytest.fail("this test lowers fs.inotify.max_queued_events: run it as root (CI does)")
    before = limit.read_text().strip()
    limit.write_text(str(events))
    try:
        yield
    finally:
        limit.write_text(before)
