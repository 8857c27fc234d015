"""Scratch folders of worker processes (``work/<host>-<pid>-<version>/``): a killed
process leaves its folder behind; the next worker process of the host removes it."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Callable

import structlog


def worker_identity() -> str:
    """``<host>-<pid>``: who holds a lease, and the prefix of this process's scratch."""
    return f"{socket.gethostname()}-{os.getpid()}"


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def held_by_dead_process(holder: str) -> bool:
    """Whether a lease holder ``<host>-<pid>[-…]`` (:func:`worker_identity`) is a process
    of this host that is gone: its lease may be taken over now rather than when it expires
    (a process killed, or stopped with Redis, keeps its lease in Redis's saved data)."""
    prefix = f"{socket.gethostname()}-"
    if not holder.startswith(prefix):
        return False
    pid = holder[len(prefix):].split("-", 1)[0]
    return pid.isdigit() and not pid_alive(int(pid))


def remove_stale_work_dirs(work_root: Path, is_alive: Callable[[int], bool]) -> list[Path]:
    """Remove scratch folders this host's dead worker processes left behind."""
    removed: list[Path] = []
    prefix = f"{socket.gethostname()}-"
    if not work_root.is_dir():
        return removed
    for folder in work_root.iterdir():
        if not folder.name.startswith(prefix):
            continue
        pid_part = folder.name[len(prefix):].split("-", 1)[0]
        if pid_part.isdigit() and not is_alive(int(pid_part)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def remove_stale_scratch_at_start(work_root: Path) -> list[Path]:
    """At a worker process's start (pipeline/app/compose.py), before it runs anything: remove
    the scratch folders this host's dead processes left behind, and log how many.

    A folder named with this process's own pid is stale too: nothing has run here yet, so
    an earlier process with the same pid left it (pids repeat, e.g. in a restarted
    container). Folders of other live processes, and of other hosts, are kept."""
    me = os.getpid()
    removed = remove_stale_work_dirs(work_root, lambda pid: pid != me and pid_alive(pid))
    if removed:
        structlog.get_logger().info("worker.stale_work_removed", folders=len(removed))
    return removed
