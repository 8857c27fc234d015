"""Files read and written safely: a streaming hash, and writes that are atomic (readers
see the old file or the whole new one) or set-if-absent (the first writer wins). The
checker hashes with them; the stores, the mail outbox and the supervisor write with them.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

#: bytes per read when hashing
CHUNK = 1 << 20


def hash_file(path: Path, chunk: int = CHUNK) -> tuple[int, str]:
    """(size, sha256 hex) of ``path``, streaming: packages can be gigabytes."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (a rename, a new file) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file ``path`` and make it durable before it is published."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    _write_synced(tmp, data)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_if_absent(path: Path, data: bytes) -> bool:
    """Create ``path`` with ``data`` unless it exists (atomic: link(2) fails on EEXIST)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{id(data)}.tmp")
    _write_synced(tmp, data)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
