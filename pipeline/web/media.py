"""The photos and videos of an archived package, for its page: read from the stored ZIP
itself, never unpacked whole. A member stored without compression (ZIP_STORED: what phones'
and cameras' media usually are in a ZIP made with "store only", and what the pipeline packs
folder uploads with) is served straight from its bytes in the ZIP; a compressed one is
inflated once into the cache (in the data folder's work area) and served from there. Both
answer HTTP range requests, so a video plays and seeks in the page without being sent whole.
Thumbnails are made once from the photo's draft (a 1/8-scale JPEG decode) and cached.

Only names the ZIP's directory lists are served (looked up, never joined to a path); the
cache's file names are hashes."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from pipeline.check.contract import LOCAL_HEADER, PHOTO_EXTS, VIDEO_EXTS
from pipeline.ops.catalogue_tasks import member_path

#: the longest side of a thumbnail, pixels
THUMB_SIZE = 320
#: the cache is trimmed (the packages looked at longest ago go first) above this size
CACHE_MAX_BYTES = 4 * 1024 ** 3
#: a photo larger than this is not thumbnailed (the checks refuse far smaller ones)
THUMB_MAX_SOURCE_BYTES = 64 * 1024 ** 2

CHUNK = 256 * 1024
#: ZIP directories kept in memory (a package's is a few hundred entries)
LISTINGS_KEPT = 64


@dataclass(frozen=True)
class Member:
    """A photo or video of the package: its path in the package and what serving it needs."""

    path: str
    kind: str  # "photo" | "video"
    size: int  # uncompressed
    stored: bool  # ZIP_STORED: served at its offset in the ZIP

    @property
    def folder(self) -> str:
        return self.path.rsplit("/", 1)[0] if "/" in self.path else ""

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Span:
    """Bytes to send: ``length`` bytes of ``file`` from ``offset``."""

    file: Path
    offset: int
    length: int
    content_type: str


def _kind(path: str) -> str | None:
    lower = path.lower()
    if lower.endswith(PHOTO_EXTS):
        return "photo"
    if lower.endswith(VIDEO_EXTS):
        return "video"
    return None


def _content_type(kind: str) -> str:
    return "image/jpeg" if kind == "photo" else "video/mp4"


class PackageMedia:
    """The media of archived packages. ``zip_of(receipt_id, scratch)``: the local path of a
    package's stored ZIP (an S3 store downloads it into ``scratch``, a folder of the
    cache, once), or None."""

    def __init__(self, zip_of: Callable[[str, Path], Path | None], cache_dir: Path,
                 cache_max_bytes: int = CACHE_MAX_BYTES) -> None:
        self.zip_of = zip_of
        self.cache_dir = cache_dir
        self.cache_max_bytes = cache_max_bytes
        self._lock = threading.Lock()
        self._listings: dict[tuple[str, int, int], dict[str, tuple[zipfile.ZipInfo, str]]] = {}

    def _folder(self, receipt_id: str) -> Path:
        folder = self.cache_dir / hashlib.sha256(receipt_id.encode("ascii")).hexdigest()[:32]
        folder.mkdir(parents=True, exist_ok=True)
        os.utime(folder)  # looked at now: trimmed last
        return folder

    def _zip(self, receipt_id: str) -> Path | None:
        folder = self._folder(receipt_id)
        downloaded = folder / "package.zip"
        if downloaded.exists():
            return downloaded
        return self.zip_of(receipt_id, folder)

    def zip_path(self, receipt_id: str) -> Path | None:
        """The local path of the package's stored ZIP (from an S3 store, downloaded into
        the cache once), or None: the paper forms (pipeline/web/paper.py) read it whole."""
        return self._zip(receipt_id)

    def _infos(self, receipt_id: str) -> tuple[Path, dict[str, tuple[zipfile.ZipInfo, str]]] | None:
        """The package's ZIP and its photos and videos by path. The directory is read once
        per ZIP (a video's player asks for many ranges, each a request), again only if the
        file changed."""
        path = self._zip(receipt_id)
        if path is None:
            return None
        try:
            stat = path.stat()
            key = (str(path), stat.st_size, stat.st_mtime_ns)
            with self._lock:
                infos = self._listings.get(key)
            if infos is None:
                with zipfile.ZipFile(path) as archive:
                    infos = {member_path(i): (i, kind) for i in archive.infolist()
                             if not i.is_dir() and (kind := _kind(member_path(i)))}
                with self._lock:
                    if len(self._listings) >= LISTINGS_KEPT:
                        self._listings.pop(next(iter(self._listings)))  # the oldest read
                    self._listings[key] = infos
        except (OSError, zipfile.BadZipFile):
            return None
        return path, infos

    def members(self, receipt_id: str) -> list[Member]:
        """The package's photos and videos, in path order."""
        found = self._infos(receipt_id)
        if found is None:
            return []
        _path, infos = found
        return [Member(p, kind, i.file_size, i.compress_type == zipfile.ZIP_STORED)
                for p, (i, kind) in sorted(infos.items())]

    def span(self, receipt_id: str, path: str) -> Span | None:
        """Where the bytes of the member ``path`` are: in the ZIP (stored) or in the cache."""
        found = self._infos(receipt_id)
        if found is None or path not in found[1]:
            return None
        zip_path, infos = found
        info, kind = infos[path]
        if info.compress_type == zipfile.ZIP_STORED and info.flag_bits & 0x1 == 0:
            with open(zip_path, "rb") as f:
                f.seek(info.header_offset)
                header = f.read(LOCAL_HEADER.size)
            if len(header) < LOCAL_HEADER.size:
                return None
            fields = LOCAL_HEADER.unpack(header)
            name_length, extra_length = fields[-2], fields[-1]
            offset = info.header_offset + LOCAL_HEADER.size + name_length + extra_length
            return Span(zip_path, offset, info.file_size, _content_type(kind))
        cached = self._folder(receipt_id) / (hashlib.sha256(path.encode("utf-8")).hexdigest()[:32] + ".bin")
        if not cached.exists():
            self._inflate(zip_path, info, cached)
        return Span(cached, 0, info.file_size, _content_type(kind))

    def _inflate(self, zip_path: Path, info: zipfile.ZipInfo, target: Path) -> None:
        self._trim()
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".inflating-")
        try:
            with os.fdopen(fd, "wb") as out, zipfile.ZipFile(zip_path) as archive, archive.open(info) as member:
                shutil.copyfileobj(member, out, CHUNK)
            os.replace(tmp, target)  # whole or not at all: two requests may inflate at once
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def thumbnail(self, receipt_id: str, path: str) -> Path | None:
        """A JPEG of at most THUMB_SIZE pixels of the photo ``path``, made once."""
        from PIL import Image

        found = self._infos(receipt_id)
        if found is None or path not in found[1] or found[1][path][1] != "photo":
            return None
        zip_path, infos = found
        info = infos[path][0]
        target = self._folder(receipt_id) / (hashlib.sha256(path.encode("utf-8")).hexdigest()[:32] + ".thumb.jpg")
        if target.exists():
            return target
        if info.file_size > THUMB_MAX_SOURCE_BYTES:
            return None
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".thumb-")
        try:
            with zipfile.ZipFile(zip_path) as archive, archive.open(info) as member, Image.open(member) as image:
                image.draft("RGB", (THUMB_SIZE, THUMB_SIZE))
                image.thumbnail((THUMB_SIZE, THUMB_SIZE))
                with os.fdopen(fd, "wb") as out:
                    image.convert("RGB").save(out, "JPEG", quality=80)
            os.replace(tmp, target)
        except (OSError, ValueError, zipfile.BadZipFile, Image.DecompressionBombError):
            return None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target

    def _trim(self) -> None:
        """Remove the packages looked at longest ago while the cache is over its bound."""
        with self._lock:
            folders = [f for f in self.cache_dir.iterdir() if f.is_dir()] if self.cache_dir.exists() else []
            sizes = {f: sum(p.stat().st_size for p in f.iterdir() if p.is_file()) for f in folders}
            total = sum(sizes.values())
            for folder in sorted(folders, key=lambda f: f.stat().st_mtime):
                if total <= self.cache_max_bytes or time.time() - folder.stat().st_mtime < 60:
                    break
                shutil.rmtree(folder, ignore_errors=True)
                total -= sizes[folder]


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header: str | None, length: int) -> tuple[int, int] | None | str:
    """The (first, last) byte a ``Range`` header asks of ``length`` bytes; None for the
    whole (no header, or one we do not serve partially: several ranges); "unsatisfiable"
    for a range outside the bytes (416)."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if not m:
        return None
    first, last = m.group(1), m.group(2)
    if not first and not last:
        return None
    if not first:  # the last N bytes
        n = int(last)
        if n == 0:
            return "unsatisfiable"
        return max(0, length - n), length - 1
    start = int(first)
    end = min(int(last), length - 1) if last else length - 1
    if start >= length or end < start:
        return "unsatisfiable"
    return start, end


def read_span(span: Span, first: int, last: int) -> Iterator[bytes]:
    """Bytes ``first``..``last`` (inclusive) of ``span``, in chunks."""
    with open(span.file, "rb") as f:
        f.seek(span.offset + first)
        left = last - first + 1
        while left > 0:
            block = f.read(min(CHUNK, left))
            if not block:
                return
            left -= len(block)
            yield block

