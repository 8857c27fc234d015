"""What is where, for operators: uploads waiting in the inbox, claims being decided, and
the stored decisions (their documents and ZIPs), read the same way from the local folders
and from S3. Used by the operator commands, the index rebuild and the metrics; it only
reads (the one writing path, ``pipeline requeue``, goes through the store's
``claim_stored``).

A decision's folder holds its document and the original ZIP under the name it was
uploaded with (存档备查). The document names the package with its personal numbers
masked (pipeline/check/documents.py), so the ZIP is found by listing the folder
(:meth:`Inventory.package_file`), never by the document's name alone."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Protocol

from pipeline.check.documents import RECEIPT_ID, receipt_month
from pipeline.check.files import hash_file
from pipeline.check.privacy import redact
from pipeline.intake.uploads import Claim
from pipeline.intake.local_store import LocalStore
from pipeline.intake.store import StoreError

if TYPE_CHECKING:  # imported where used: the watcher module brings in watchdog
    from pipeline.intake.folder_watch import SkippedEntry

AREAS = ("archive", "quarantine")
_DOCUMENTS = ("receipt.json", "errors.json")


@dataclass(frozen=True)
class Waiting:
    """An upload in the inbox, not claimed yet."""

    location: str  # inbox-relative path (fs) or object key (s3)
    account: str
    size: int
    since: datetime  # last written (mtime) or uploaded (LastModified), UTC
    #: "file" (one upload file), "folder" (a folder upload), "files" (loose files, taken
    #: together) or "packing" (being packed into one ZIP now): pipeline/intake/folder_uploads.py
    kind: str = "file"
    files: int = 1
    #: seconds until a folder or loose files are taken if nothing changes (an estimate from
    #: the newest mtime: the watcher counts from when it saw the last change); None: a
    #: file, or an upload still in progress inside
    taken_in_s: float | None = None


class Inventory(Protocol):
    kind: str

    def inbox(self) -> list[Waiting]: ...
    def skipped(self, unfinished_after: float) -> list[SkippedEntry]:
        """What the watcher leaves out of the inbox and the operator should hear about
        (:func:`pipeline.intake.folder_watch.skipped_in_inbox`); an upload under an
        in-progress name counts once unchanged for ``unfinished_after`` seconds."""
    def claims(self) -> list[Claim]: ...
    def locations(self, area: str) -> Iterator[str]:
        """Every decision location of ``area`` (``archive`` or ``quarantine``)."""
    def read(self, location: str) -> dict[str, Any]: ...
    def locate(self, receipt_id: str) -> str | None:
        """The location of a receipt id's decision (read off its id: month, then area)."""
    def package_file(self, location: str, name: str) -> str | None:
        """The file name of the ZIP stored in the decision folder ``location`` whose
        document names the package ``name`` (masked, or in full in older documents);
        None when the folder holds none."""
    def zip_ref(self, location: str, name: str) -> str: ...
    def document_ref(self, location: str, document: dict[str, Any]) -> str: ...
    def hash_zip(self, location: str, name: str) -> tuple[int, str] | None:
        """(size, SHA-256) of the stored ZIP, streaming; None when it is missing."""
    def local_zip(self, location: str, name: str, scratch: Path) -> Path:
        """A local path of the stored ZIP (downloaded into ``scratch`` if need be)."""


def documents(inventory: Inventory, areas: tuple[str, ...] = AREAS) -> Iterator[tuple[str, dict[str, Any]]]:
    """(location, document) of every stored decision; unreadable ones are skipped."""
    for area in areas:
        for location in inventory.locations(area):
            try:
                yield location, inventory.read(location)
            except (StoreError, OSError, ValueError):
                continue


def _document_name(document: dict[str, Any]) -> str:
    return "errors.json" if document.get("status") == "rejected" else "receipt.json"


def stored_package(names: list[str], name: str) -> str | None:
    """Which of the file ``names`` in a decision folder is the ZIP the document calls
    ``name``: the one so named (a document written before names were masked), else the
    one whose masked name it is, else the only file beside the document. Hidden names
    (a copy being written) and the documents are never it."""
    files = sorted(n for n in names if n not in _DOCUMENTS and not n.startswith("."))
    if name in files:
        return name
    masked = [n for n in files if redact(n) == name]
    if masked:
        return masked[0]
    return files[0] if len(files) == 1 else None


#: the default of ``PIPELINE_STALE_UPLOAD_TIMEOUT`` (pipeline/intake/folder_watch.py)
STALE_UPLOAD_TIMEOUT = 1800.0


def group_location(kind: str, relative: str, files: int) -> str:
    """How a folder upload or a set of loose files is shown: ``xinghuo/星火20261120/`` or
    ``xinghuo/（24 个零散文件）``."""
    if kind == "folder":
        return f"{relative}/"
    return f"{relative}/（{files} 个零散文件）" if relative else f"（{files} 个零散文件）"


class LocalInventory:
    kind = "fs"

    def __init__(self, store: LocalStore, folder_quiet_period: float = 10.0) -> None:
        self.store = store
        self.folder_quiet_period = folder_quiet_period
        self._areas = {"archive": store.archive, "quarantine": store.quarantine}

    def inbox(self) -> list[Waiting]:
        """Upload files, and folder uploads and loose files (each one upload once packed)."""
        from pipeline.intake.folder_watch import scan_inbox, uploads_in_inbox

        if not self.store.inbox.is_dir():
            return []
        out = [Waiting(f.relative, f.account, f.size, datetime.fromtimestamp(f.mtime_ns / 1e9, timezone.utc))
               for f in scan_inbox(self.store.inbox)]
        now = time.time()
        groups, packing = uploads_in_inbox(self.store.inbox, now, STALE_UPLOAD_TIMEOUT)
        for g in groups:
            taken_in = None if g.busy else round(max(0.0, self.folder_quiet_period - (now - g.last_change)), 1)
            out.append(Waiting(group_location(g.kind, g.relative, len(g.members)), g.account, g.size,
                               datetime.fromtimestamp(g.last_change, timezone.utc), g.kind, len(g.members),
                               taken_in))
        for p in packing:
            out.append(Waiting(group_location(p.kind, p.relative, p.files), p.account, 0,
                               datetime.fromtimestamp(p.since, timezone.utc), "packing", p.files, 0.0))
        return out

    def skipped(self, unfinished_after: float) -> list[SkippedEntry]:
        from pipeline.intake.folder_watch import skipped_in_inbox

        if not self.store.inbox.is_dir():
            return []
        return skipped_in_inbox(self.store.inbox, time.time(), unfinished_after)

    def claims(self) -> list[Claim]:
        return self.store.pending_claims()

    def locations(self, area: str) -> Iterator[str]:
        root = self._areas[area]
        if not root.is_dir():
            return
        for month in sorted(os.scandir(root), key=lambda e: e.name):
            if not month.is_dir(follow_symlinks=False):
                continue
            for folder in sorted(os.scandir(month.path), key=lambda e: e.name):
                if folder.is_dir(follow_symlinks=False) and RECEIPT_ID.match(folder.name):
                    yield f"{area}/{month.name}/{folder.name}"

    def read(self, location: str) -> dict[str, Any]:
        return self.store.read_document(location)

    def locate(self, receipt_id: str) -> str | None:
        for area in AREAS:
            location = f"{area}/{receipt_month(receipt_id)}/{receipt_id}"
            if any((self.store.data_dir / location / name).is_file() for name in _DOCUMENTS):
                return location
        return None

    def package_file(self, location: str, name: str) -> str | None:
        try:
            names = [e.name for e in os.scandir(self.store.data_dir / location) if e.is_file()]
        except (FileNotFoundError, NotADirectoryError):
            return None
        return stored_package(names, name)

    def zip_ref(self, location: str, name: str) -> str:
        return str(self.store.data_dir / location / name)

    def document_ref(self, location: str, document: dict[str, Any]) -> str:
        return str(self.store.data_dir / location / _document_name(document))

    def hash_zip(self, location: str, name: str) -> tuple[int, str] | None:
        try:
            return hash_file(self.store.data_dir / location / name)
        except FileNotFoundError:
            return None

    def local_zip(self, location: str, name: str, scratch: Path) -> Path:
        return self.store.data_dir / location / name


class S3Inventory:
    kind = "s3"

    def __init__(self, store: Any, folder_quiet_period: float = 10.0) -> None:  # pipeline.intake.s3_store.S3Store
        self.store = store
        self.client = store.client
        self.folder_quiet_period = folder_quiet_period
        self._areas = {"archive": store.archive_bucket, "quarantine": store.quarantine_bucket}

    def _listing(self, unfinished_after: float) -> Any:
        from pipeline.intake.bucket_uploads import sniff_object, sort_listing

        bucket, prefix = self.store.inbox_bucket, self.store.inbox_prefix
        objects = [o for o in self.client.list_objects(bucket, prefix=prefix, recursive=True)
                   if not o.is_dir and o.object_name]
        return sort_listing(objects, prefix, time.time(), unfinished_after,
                            lambda obj: sniff_object(self.client, bucket, obj))

    def inbox(self) -> list[Waiting]:
        """Upload objects, and folders uploaded key by key and loose objects (each one
        upload once packed, pipeline/intake/bucket_uploads.py), and the packings under way."""
        from pipeline.intake.s3_store import parse_inbox_key

        prefix = self.store.inbox_prefix
        listing = self._listing(STALE_UPLOAD_TIMEOUT)
        packings = self.store.ledger.packing_records()
        out = []
        for obj in listing.candidates:
            if obj.object_name in packings:
                continue  # shown as being packed
            where = parse_inbox_key(obj.object_name or "", prefix)
            since = obj.last_modified or datetime.now(timezone.utc)
            out.append(Waiting(obj.object_name, where.account if where else "", int(obj.size or 0), since))
        now = time.time()
        being_packed = {str(record.get("group")) for record in packings.values()}
        for g in listing.groups:
            if g.key in being_packed:
                continue  # shown as being packed
            taken_in = None if g.busy else round(max(0.0, self.folder_quiet_period - (now - g.last_change)), 1)
            out.append(Waiting(prefix + group_location(g.kind, g.relative, len(g.members)), g.account, g.size,
                               datetime.fromtimestamp(g.last_change, timezone.utc), g.kind, len(g.members),
                               taken_in))
        for target, record in sorted(packings.items()):
            files = int(record.get("files") or 0)
            out.append(Waiting(prefix + group_location(str(record.get("kind")), str(record.get("relative")), files),
                               str(record.get("account") or ""), 0,
                               datetime.fromtimestamp(float(record.get("since") or now), timezone.utc),
                               "packing", files, 0.0))
        return sorted(out, key=lambda w: w.location)

    def skipped(self, unfinished_after: float) -> list[SkippedEntry]:
        """In-progress names (``*.part``, ``.x``…) unchanged for longer than
        ``unfinished_after``: uploads never finished. A bucket holds objects only: no
        symlinks, FIFOs or folders to skip, and every other key is taken (a folder's keys
        are packed, pipeline/intake/bucket_uploads.py)."""
        from pipeline.intake.folder_watch import SkippedEntry

        return [SkippedEntry(rel, account, "unfinished_upload", mtime)
                for rel, account, mtime in self._listing(unfinished_after).unfinished]

    def claims(self) -> list[Claim]:
        return self.store.pending_claims()

    def locations(self, area: str) -> Iterator[str]:
        bucket = self._areas[area]
        for obj in self.client.list_objects(bucket, recursive=True):
            prefix, _, name = (obj.object_name or "").rpartition("/")
            if name in _DOCUMENTS and RECEIPT_ID.match(prefix.rpartition("/")[2]):
                yield f"{bucket}/{prefix}"

    def read(self, location: str) -> dict[str, Any]:
        return self.store.read_document(location)

    def locate(self, receipt_id: str) -> str | None:
        from minio.error import S3Error

        for area in AREAS:
            bucket = self._areas[area]
            for name in _DOCUMENTS:
                try:
                    self.client.stat_object(bucket, f"{receipt_month(receipt_id)}/{receipt_id}/{name}")
                except S3Error:
                    continue
                return f"{bucket}/{receipt_month(receipt_id)}/{receipt_id}"
        return None

    def package_file(self, location: str, name: str) -> str | None:
        bucket, _, prefix = location.partition("/")
        objects = self.client.list_objects(bucket, prefix=prefix + "/")
        names = [(o.object_name or "").rpartition("/")[2] for o in objects if not o.is_dir]
        return stored_package(names, name)

    def zip_ref(self, location: str, name: str) -> str:
        return f"s3://{location}/{name}"

    def document_ref(self, location: str, document: dict[str, Any]) -> str:
        return f"s3://{location}/{_document_name(document)}"

    def _get(self, location: str, name: str) -> Any:
        from minio.error import S3Error

        bucket, _, prefix = location.partition("/")
        try:
            return self.client.get_object(bucket, f"{prefix}/{name}")
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                return None
            raise

    def hash_zip(self, location: str, name: str) -> tuple[int, str] | None:
        response = self._get(location, name)
        if response is None:
            return None
        digest, size = hashlib.sha256(), 0
        try:
            for chunk in response.stream(1 << 20, decode_content=False):
                digest.update(chunk)
                size += len(chunk)
        finally:
            response.close()
            response.release_conn()
        return size, digest.hexdigest()

    def local_zip(self, location: str, name: str, scratch: Path) -> Path:
        response = self._get(location, name)
        if response is None:
            raise StoreError(f"no stored package {location}/{name}")
        scratch.mkdir(parents=True, exist_ok=True)
        target = scratch / "package.zip"
        try:
            with open(target, "wb") as fh:
                for chunk in response.stream(1 << 20, decode_content=False):
                    fh.write(chunk)
        finally:
            response.close()
            response.release_conn()
        return target


def inventory_of(store: Any, folder_quiet_period: float = 10.0) -> Inventory:
    return (LocalInventory(store, folder_quiet_period) if isinstance(store, LocalStore)
            else S3Inventory(store, folder_quiet_period))
