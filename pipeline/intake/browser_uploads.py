"""Uploads from a browser (the web's 上报 and 自查, issue 18): a ZIP sent in chunks, each
chunk appended at the offset the server holds, so a broken line loses at most the chunk
under way and the browser goes on from where the server stopped (it asks). Nothing is held
in memory: every chunk is written to a staged file as it arrives.

A staged upload lives in ``DATA/uploads/<id>/`` (``upload.json`` and ``data.part``). When
the last byte is there the upload is *landed*:

- **submit** (上报): renamed into the account's inbox folder, ``inbox/<account>/<name>``
  (the same file system: one atomic rename), exactly where an SFTP upload of the account
  ends — the same watcher, claim and decision apply. A file of the same name waiting there is
  replaced, as an SFTP client's overwrite would (the clerk sent a newer one).
- **self-check** (自查): handed to :class:`pipeline.intake.self_checks.SelfChecks`.

With an S3 inbox, submitted packages do not pass through the web at all: the browser sends
the parts straight to the inbox bucket with presigned URLs (:class:`PresignedUploads`), and
the bucket's own multipart upload is what resumes.

An upload refused is :class:`UploadRefused` with the clerk's words; an upload left unfinished
is removed after a day (:meth:`BrowserUploads.sweep`)."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import secrets
import shutil
import time
import unicodedata
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, Callable

#: what an upload is for
SUBMIT, SELF_CHECK = "submit", "self-check"
PURPOSES = (SUBMIT, SELF_CHECK)
#: the chunk the browser is asked to send (and, with S3, the part size)
CHUNK_BYTES = 8 * 1024 * 1024
#: the most one request may carry (a chunk, with room for a browser that rounds up)
MAX_REQUEST_BYTES = 16 * 1024 * 1024
#: unfinished uploads one account may have at once
OPEN_PER_ACCOUNT = 4
#: the disk space an upload must leave free (the inbox and the workers' scratch share it)
FREE_MARGIN_BYTES = 1024 * 1024 * 1024
#: an unfinished upload untouched this long is removed
STALE_AFTER_SECONDS = 24 * 3600
#: an upload's id: 32 hex digits, made here (anything else in a URL is not one)
UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


class UploadRefused(Exception):
    """An upload (or a chunk of it) that cannot be taken; ``message`` is for the clerk,
    ``status`` the HTTP status that says it, ``offset`` where the server's copy ends."""

    def __init__(self, message: str, status: int = 400, offset: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.offset = offset


@dataclass(frozen=True)
class StagedUpload:
    id: str
    account: str
    name: str
    size: int
    purpose: str
    started_at: float
    #: the bucket's multipart upload and key (S3 inbox, submit only); empty otherwise
    multipart_id: str = ""
    key: str = ""


def package_file_name(name: str) -> str:
    """The ZIP's name as the clerk chose it, if it can be a file name in the inbox; else
    :class:`UploadRefused`. A basename only, never hidden, ending ``.zip``."""
    name = unicodedata.normalize("NFC", (name or "").strip())
    if not name or "/" in name or "\\" in name or name.startswith((".", "~")) or len(name.encode("utf-8")) > 200:
        raise UploadRefused("文件名不能用，请把压缩包改成一个普通的名字（例如“机构名称-培训.zip”）再上传。")
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in name):
        raise UploadRefused("文件名里有看不见的控制字符，请重新命名压缩包后再上传。")
    if not name.lower().endswith(".zip"):
        raise UploadRefused("只能上传 ZIP 压缩包（文件名以 .zip 结尾）。文件夹请用“选择文件夹”，网页会先压缩。")
    return name


class BrowserUploads:
    """Staged, chunked uploads of browsers (module docstring). ``max_bytes``: the largest
    package taken (the policy's archive limit)."""

    def __init__(self, root: Path, inbox_dir: Path, max_bytes: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.inbox_dir = inbox_dir
        self.max_bytes = max_bytes
        self.clock = clock

    # -- begin -------------------------------------------------------------------------
    def start(self, account: str, name: str, size: int, purpose: str, *,
              multipart: Callable[[str], tuple[str, str]] | None = None) -> StagedUpload:
        """A new upload of ``size`` bytes. ``multipart`` (S3 inbox): opens the bucket's
        multipart upload for the staged id and gives (its id, the key)."""
        if purpose not in PURPOSES:
            raise UploadRefused("不支持的上传。")
        name = package_file_name(name)
        if size <= 0:
            raise UploadRefused("这个文件是空的，请选择压缩包。")
        if size > self.max_bytes:
            raise UploadRefused(f"压缩包太大（{size / 2**30:.1f} GB），最多 {self.max_bytes / 2**30:.0f} GB。", 413)
        self.sweep()
        self.root.mkdir(parents=True, exist_ok=True)
        if multipart is None and shutil.disk_usage(self.root).free < size + FREE_MARGIN_BYTES:
            raise UploadRefused("服务器的存储空间暂时不够放下这个压缩包，请稍后再上传，或告诉上报系统管理员。", 507)
        if sum(1 for u in self._all() if u.account == account) >= OPEN_PER_ACCOUNT:
            raise UploadRefused(f"同时最多上传 {OPEN_PER_ACCOUNT} 个压缩包；请等正在上传的完成，或一天后自动取消。", 429)
        upload = StagedUpload(secrets.token_hex(16), account, name, size, purpose, self.clock())
        if multipart is not None:
            multipart_id, key = multipart(name)
            upload = StagedUpload(**{**asdict(upload), "multipart_id": multipart_id, "key": key})
        folder = self.root / upload.id
        folder.mkdir(parents=True)
        (folder / "data.part").touch()
        self._write_record(upload)
        return upload

    def get(self, upload_id: str, account: str) -> StagedUpload | None:
        """The account's upload of this id (another account's is None, as a missing one)."""
        if not UPLOAD_ID.match(upload_id):
            return None
        try:
            upload = StagedUpload(**json.loads((self.root / upload_id / "upload.json").read_text("utf-8")))
        except (OSError, ValueError, TypeError):
            return None
        return upload if upload.account == account else None

    def received(self, upload: StagedUpload) -> int:
        """The bytes of ``upload`` the server holds: where the next chunk starts."""
        try:
            return (self.root / upload.id / "data.part").stat().st_size
        except FileNotFoundError:
            return 0

    # -- chunks ------------------------------------------------------------------------
    def writer(self, upload: StagedUpload, offset: int) -> "ChunkWriter":
        """A writer of the chunk starting at ``offset`` (which must be where the server's
        copy ends: else 409 with that offset, and the browser goes on from there)."""
        return ChunkWriter(self.root / upload.id / "data.part", upload.size, offset)

    # -- the end -----------------------------------------------------------------------
    def complete(self, upload: StagedUpload) -> Path:
        """The whole staged file, flushed to disk; UploadRefused (409) when bytes are missing."""
        path = self.root / upload.id / "data.part"
        have = self.received(upload)
        if have != upload.size:
            raise UploadRefused("压缩包还没有传完，请继续上传。", 409, offset=have)
        with open(path, "rb") as f:
            os.fsync(f.fileno())
        return path

    def land_in_inbox(self, upload: StagedUpload) -> str:
        """Submit: the complete upload renamed into ``inbox/<account>/<name>``; its
        inbox-relative location. The record goes after the rename: a crash between the two
        leaves an empty staged folder the sweep removes, never a package lost."""
        path = self.complete(upload)
        folder = self.inbox_dir / upload.account
        folder.mkdir(parents=True, exist_ok=True)
        os.replace(path, folder / upload.name)
        _fsync_dir(folder)
        self.discard(upload)
        return f"{upload.account}/{upload.name}"

    def discard(self, upload: StagedUpload) -> None:
        shutil.rmtree(self.root / upload.id, ignore_errors=True)

    def sweep(self) -> list[StagedUpload]:
        """Remove the uploads untouched for :data:`STALE_AFTER_SECONDS`; returns them (an
        S3 one's multipart upload is the caller's to abort)."""
        gone = []
        now = self.clock()
        for upload in self._all():
            folder = self.root / upload.id
            try:
                touched = max(p.stat().st_mtime for p in folder.iterdir())
            except (OSError, ValueError):
                touched = upload.started_at
            if now - touched > STALE_AFTER_SECONDS:
                self.discard(upload)
                gone.append(upload)
        return gone

    def _all(self) -> list[StagedUpload]:
        if not self.root.is_dir():
            return []
        found = []
        for folder in self.root.iterdir():
            try:
                found.append(StagedUpload(**json.loads((folder / "upload.json").read_text("utf-8"))))
            except (OSError, ValueError, TypeError):
                continue
        return found

    def _write_record(self, upload: StagedUpload) -> None:
        target = self.root / upload.id / "upload.json"
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(upload), ensure_ascii=False), "utf-8")
        os.replace(tmp, target)


class ChunkWriter:
    """Appends one chunk to a staged file. One writer at a time per upload (a second one,
    e.g. a retry while the first request still runs, is refused with 409); never past the
    declared size, never more than :data:`MAX_REQUEST_BYTES` per chunk."""

    def __init__(self, path: Path, size: int, offset: int) -> None:
        self.path = path
        self.size = size
        self.offset = offset
        self.written = 0
        self._file: IO[bytes] | None = None

    def __enter__(self) -> "ChunkWriter":
        try:
            f = open(self.path, "r+b")
        except FileNotFoundError:
            raise UploadRefused("这次上传已取消或已过期，请重新选择文件上传。", 404) from None
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise UploadRefused("这个压缩包的上一段还在传，请稍候。", 409) from None
        have = os.fstat(f.fileno()).st_size
        if self.offset != have:
            f.close()
            raise UploadRefused("续传位置不对，将从服务器已收到的位置继续。", 409, offset=have)
        f.seek(have)
        self._file = f
        return self

    def write(self, piece: bytes) -> None:
        assert self._file is not None
        if self.written + len(piece) > MAX_REQUEST_BYTES or self.offset + self.written + len(piece) > self.size:
            raise UploadRefused("这一段比约定的大，请刷新页面重新上传。", 413, offset=self.offset + self.written)
        try:
            self._file.write(piece)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            # a full disk is the server's trouble, not the clerk's: the page waits and tries again
            raise UploadRefused("服务器的存储空间已满，稍后会自动继续上传。", 507, offset=self.offset + self.written) from None
        self.written += len(piece)

    def __exit__(self, *exc: Any) -> None:
        # what arrived stays (a broken line keeps the bytes it delivered): the next chunk
        # starts where this one ended
        assert self._file is not None
        self._file.close()

    @property
    def end(self) -> int:
        return self.offset + self.written


class PresignedUploads:
    """Submitting to an S3 inbox: the browser PUTs each part to a presigned URL of the
    bucket's multipart upload (the web never carries the bytes); the web completes it from
    the bucket's own list of parts, so what the browser claims is never trusted."""

    def __init__(self, client: Any, bucket: str, prefix: str, expires: timedelta = timedelta(hours=6)) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.expires = expires

    def opener(self, account: str) -> Callable[[str], tuple[str, str]]:
        """What :meth:`BrowserUploads.start` calls to open the multipart upload of ``name``."""
        def open_multipart(name: str) -> tuple[str, str]:
            key = f"{self.prefix}{account}/{name}"
            return self.client._create_multipart_upload(self.bucket, key, {"Content-Type": "application/zip"}), key
        return open_multipart

    def part_url(self, upload: StagedUpload, number: int) -> str:
        parts = -(-upload.size // CHUNK_BYTES)
        if not 1 <= number <= parts:
            raise UploadRefused("没有这一段。", 404)
        return str(self.client.get_presigned_url(
            "PUT", self.bucket, upload.key, expires=self.expires,
            extra_query_params={"partNumber": str(number), "uploadId": upload.multipart_id}))

    def parts(self, upload: StagedUpload) -> list[Any]:
        """The parts the bucket holds, in order."""
        found: list[Any] = []
        marker: str | None = None
        while True:
            result = self.client._list_parts(self.bucket, upload.key, upload.multipart_id, max_parts=1000,
                                             part_number_marker=marker)
            found.extend(result.parts)
            if not result.is_truncated:
                return sorted(found, key=lambda p: p.part_number)
            marker = str(result.next_part_number_marker)

    def received(self, upload: StagedUpload) -> int:
        return sum(int(p.size or 0) for p in self.parts(upload))

    def complete(self, upload: StagedUpload) -> str:
        """The object made from the parts; its key. 409 while bytes are missing."""
        parts = self.parts(upload)
        have = sum(int(p.size or 0) for p in parts)
        expected = list(range(1, -(-upload.size // CHUNK_BYTES) + 1))
        if have != upload.size or [p.part_number for p in parts] != expected:
            raise UploadRefused("压缩包还没有传完，请继续上传。", 409, offset=have)
        self.client._complete_multipart_upload(self.bucket, upload.key, upload.multipart_id, parts)
        return upload.key

    def abort(self, upload: StagedUpload) -> None:
        try:
            self.client._abort_multipart_upload(self.bucket, upload.key, upload.multipart_id)
        except Exception:  # already completed or expired in the bucket: nothing to abort
            pass


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
