"""Files read and written safely: a streaming hash, and writes that are atomic (readers
see the old file or the whole new one) or set-if-absent (the first writer wins); and a
range of a file read as a file of its own (a stored video inside its ZIP). The checker
hashes and reads with them; the stores, the mail outbox and the supervisor write with them.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class FileRange:
    """``size`` bytes of the file at ``path`` from ``offset``: a stored video read where
    it lies in its ZIP (pipeline/check/package_reader.py), or a whole file (offset 0)."""

    path: Path
    offset: int
    size: int

    @classmethod
    def whole(cls, path: Path) -> "FileRange":
        return cls(Path(path), 0, Path(path).stat().st_size)

    def open(self) -> "RangeReader":
        return RangeReader(self)


class RangeReader(io.RawIOBase):
    """A read-only file of a :class:`FileRange`: positions and the end are the range's
    (``seek(0, 2)`` is its size), nothing before or after it can be read."""

    def __init__(self, where: FileRange) -> None:
        super().__init__()
        self._fd = os.open(where.path, os.O_RDONLY)
        self._offset, self._size, self._pos = where.offset, where.size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        if base + pos < 0:
            raise ValueError("negative seek position")
        self._pos = base + pos
        return self._pos

    def readinto(self, buffer: Any) -> int:
        want = max(0, min(len(buffer), self._size - self._pos))
        if not want:
            return 0
        data = os.pread(self._fd, want, self._offset + self._pos)
        buffer[:len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()
