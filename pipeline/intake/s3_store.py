"""Packages in an S3 object store (MinIO in production), behind the same :class:`Store`
interface as the local folders. Details, settings and crash behaviour: ``docs/s3.md``.

Buckets (``S3_*_BUCKET``; defaults shown) and keys::

    inbox       inbox/<name>                         uploads without an account
                inbox/<account>/<name>               uploads of one account (as inbox/<account>/)
    archive     <YYYY-MM>/<receipt id>/<name>.zip    + receipt.json
    quarantine  <YYYY-MM>/<receipt id>/<name>.zip    + errors.json | receipt.json

An upload stays where it was uploaded until it is stored: objects cannot be renamed, so
the *claim* is a record in the ledger (``Ledger.record_claim``, set-if-absent per package
version) holding the claim JSON (receipt id, source, ``received_at``) plus the object's
``VersionId`` when the bucket is versioned. A package version is one upload: (key, size,
ETag, Last-Modified to the second). The :class:`IngestRequest`'s ``location`` is the full
object key, its ``stamp`` ``<ETag>@<Last-Modified, epoch seconds>`` (:func:`object_stamp`),
so the same bytes uploaded again under the same key are a new version and get their own
decision, as a re-upload on disk does (it has a new mtime).

:meth:`S3Store.finalize` moves a package in steps that are each safe to repeat:

1. put the document into ``<bucket>/<YYYY-MM>/<receipt id>/`` (overwrites the same bytes);
2. server-side copy the ZIP beside it, conditional on the claimed ETag (and version), with
   ``x-amz-meta-sha256`` = the document's ``package.sha256`` (metadata REPLACE; the SDK
   switches to a multipart ``compose_object`` above 5 GiB);
3. verify the copy by ``stat``: size, the sha256 metadata and, where both are plain MD5
   ETags, the ETag of the source;
4. delete the claimed object from the inbox (by version id when the bucket is versioned);
5. drop the claim record.

A ``duplicate`` whose earlier receipt's archived ZIP is there and verifies (size, its
``x-amz-meta-sha256``, and the ETags where both are MD5s of the bytes) skips steps 2-3:
its document says ``"stored_as": {"same_bytes_as": "<archive bucket>/<YYYY-MM>/<receipt
id>/<name>", "held_as": "reference"}`` and its folder holds no second copy; the inbox
object is deleted only after that document is written.

A re-run after a crash anywhere finds what is done (a copy that verifies is not made
again, a missing inbox object is not deleted again) and finishes the rest. A package that
is neither in the inbox nor verified at its destination raises :class:`StoreError`: a
package is never dropped silently.

Errors talking to the server (connection refused, 5xx, access denied) propagate, so the
actor retries; a missing object is an answer, not an error. Downloads stream in 1 MiB
chunks: memory stays bounded whatever the package's size.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Callable

import structlog
from minio import Minio
from minio.commonconfig import REPLACE, CopySource
from minio.datatypes import Object
from minio.error import S3Error

from pipeline.check.documents import ACCEPTED, DUPLICATE, Source, document_filename, dumps, receipt_month
from pipeline.check.privacy import redact
from pipeline.intake.ledger import Ledger
from pipeline.intake.uploads import Claim, IngestRequest, safe_package_name
from pipeline.intake.store import (REFERENCE, JournalRecord, StoreError, check_journal_name, package_among,
                                   with_stored_as)
from pipeline.intake.uploads import ORIGIN_TAIL, is_in_progress_name, origin_from_tail

__all__ = ["CHUNK_SIZE", "INBOX_PREFIX", "InboxKey", "S3Store", "parse_inbox_key"]

#: every upload key starts with this, inside the inbox bucket
INBOX_PREFIX = "inbox/"
#: the journal's objects (pipeline/intake/store.py) lie under this, in the archive bucket
JOURNAL_PREFIX = "journal/"
#: downloads are streamed in chunks of this size (the local store's copy buffer)
CHUNK_SIZE = 1 << 20
#: user metadata of an archived or quarantined ZIP: the SHA-256 of its bytes
SHA256_META = "x-amz-meta-sha256"
#: user metadata of a ZIP the watcher packed (pipeline/intake/bucket_uploads.py): its group key
PACKED_META = "x-amz-meta-pipeline-packed"
#: S3 error codes that mean "no such object (version)": an answer, not a failure
_GONE = frozenset({"NoSuchKey", "NoSuchVersion", "NoSuchObject"})
_MD5 = re.compile(r"^[0-9a-f]{32}$")

log = structlog.get_logger("pipeline.intake.s3_store")


@dataclass(frozen=True)
class InboxKey:
    """Where an inbox object sits, by the key rule of :func:`parse_inbox_key`."""

    key: str
    account: str  # "" for inbox/<name>
    name: str
    in_scope: bool  # False: deeper than inbox/<account>/<name> (ignored, warned once)


def parse_inbox_key(key: str, prefix: str = INBOX_PREFIX) -> InboxKey | None:
    """The key rule. A package is ``<prefix><name>`` or ``<prefix><account>/<name>``.

    None (never a package, never warned about): keys outside ``prefix``, "folder" markers
    and empty segments (``inbox/a/``, ``inbox//a.zip``), in-progress names (``*.part``,
    ``*.filepart``, ``*.tmp``, ``.x``, ``~x``) and anything under a hidden "folder"
    (``inbox/.trash/x.zip``). A deeper key naming a ZIP (``inbox/a/b/x.zip``: ZIPs put in a
    "subfolder") is a package of account ``a`` too (issue 15); other deeper keys (a folder
    uploaded key by key) come back with ``in_scope=False``: the watcher warns about them
    once and leaves them alone, and ``pipeline status`` lists them as skipped.
    """
    if not key.startswith(prefix):
        return None
    parts = key[len(prefix):].split("/")
    if any(not p for p in parts) or is_in_progress_name(parts[-1]):
        return None
    if any(p.startswith((".", "~")) for p in parts[:-1]):
        return None
    account = parts[0] if len(parts) > 1 else ""
    return InboxKey(key, account, parts[-1], len(parts) <= 2 or parts[-1].lower().endswith(".zip"))


def normalize_etag(etag: str | None) -> str:
    return (etag or "").strip().strip('"')


def object_stamp(obj: Object) -> str:
    """The stamp of an inbox object: its ETag and its Last-Modified in whole seconds (a
    listing gives milliseconds, a ``stat`` the HTTP date's seconds: both agree on these)."""
    etag = normalize_etag(obj.etag)
    return f"{etag}@{int(obj.last_modified.timestamp())}" if obj.last_modified else etag


def stamp_etag(stamp: str) -> str:
    """The ETag part of a stamp (:func:`object_stamp`)."""
    return stamp.partition("@")[0]


def inbox_request(obj: Object) -> IngestRequest:
    """The request to decide the upload that is this inbox object."""
    return IngestRequest(obj.object_name or "", int(obj.size or 0), object_stamp(obj))


def _plain_md5(etag: str) -> bool:
    """An ETag that is the MD5 of the bytes: single-part, not SSE-C/KMS (``abc…-3`` is a
    multipart ETag, the MD5 of the parts' MD5s)."""
    return bool(_MD5.match(etag))


def _encrypted(headers: Any) -> bool:
    """Server-side encrypted objects' ETags need not be MD5s of the plaintext."""
    return bool(headers and (headers.get("x-amz-server-side-encryption")
                             or headers.get("x-amz-server-side-encryption-customer-algorithm")))


def _version_id(value: str | None) -> str | None:
    return None if value in (None, "", "null") else value


class S3Store:
    """The store in three buckets of one S3 endpoint; claims in the shared ledger."""

    def __init__(self, client: Minio, ledger: Ledger, *, inbox_bucket: str = "inbox",
                 archive_bucket: str = "archive", quarantine_bucket: str = "quarantine",
                 inbox_prefix: str = INBOX_PREFIX, region: str | None = None) -> None:
        self.client = client
        self.ledger = ledger
        self.inbox_bucket = inbox_bucket
        self.archive_bucket = archive_bucket
        self.quarantine_bucket = quarantine_bucket
        self.inbox_prefix = inbox_prefix
        self.region = region

    def ensure_buckets(self) -> None:
        """Create the buckets that do not exist yet (racing creators are fine)."""
        for bucket in (self.inbox_bucket, self.archive_bucket, self.quarantine_bucket):
            if self.client.bucket_exists(bucket):
                continue
            try:
                self.client.make_bucket(bucket, location=self.region)
            except S3Error as exc:
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    # -- objects ---------------------------------------------------------------------------
    def _stat(self, bucket: str, key: str, version_id: str | None = None) -> Object | None:
        """The object's metadata, or None when there is no such object (version)."""
        try:
            return self.client.stat_object(bucket, key, version_id=version_id)
        except S3Error as exc:
            if exc.code not in _GONE:
                raise
        # A HEAD's 404 has no body: a missing bucket reads as a missing object. A bucket
        # gone (or misnamed) is our fault, never "no such package".
        if not self.client.bucket_exists(bucket):
            raise StoreError(f"bucket {bucket!r} does not exist")
        return None

    def _inbox_object(self, request: IngestRequest, version_id: str | None, *,
                      same_bytes_will_do: bool = False) -> Object | None:
        """The inbox object of exactly this upload, or None (gone or replaced). With
        ``same_bytes_will_do``, also a later upload of the same bytes (same ETag and size):
        good enough as a copy source, never to delete or to claim."""
        obj = self._stat(self.inbox_bucket, request.location, version_id)
        if obj is None or obj.size != request.size:
            return None
        if object_stamp(obj) == request.stamp:
            return obj
        if same_bytes_will_do and normalize_etag(obj.etag) == stamp_etag(request.stamp):
            return obj
        return None

    def _object_version(self, claim: Claim) -> str | None:
        """The claimed object's VersionId (versioned buckets only), from the claim record."""
        record = self.ledger.claim_record(claim.version)
        return _version_id(record.get("object_version_id")) if record else None

    # -- claiming --------------------------------------------------------------------------
    def claim(self, request: IngestRequest, mint_receipt_id: Callable[[], str],
              now: datetime) -> Claim | None:
        """The claim of this version: the recorded one, else a new one if the object is
        (still) in the inbox with the request's ETag and size.

        None: nothing to claim — the version is gone and has no claim record (decided and
        stored already), or a newer upload replaced it (that one has its own request).
        """
        record = self.ledger.claim_record(request.version)
        if record is not None:
            return Claim.from_json(record)
        where = parse_inbox_key(request.location, self.inbox_prefix)
        if where is None or not where.in_scope:
            log.warning("store.not_an_inbox_key", key=request.location)
            return None
        obj = self._inbox_object(request, None)
        if obj is None:
            # A racing claimer may have recorded and finished it meanwhile.
            record = self.ledger.claim_record(request.version)
            return Claim.from_json(record) if record is not None else None
        claim = Claim(request=request, receipt_id=mint_receipt_id(),
                      source=Source("s3", f"{self.inbox_bucket}/{request.location}", where.account,
                                    **self._upload_origin(request, obj)),  # a folder packed by the watcher
                      package_name=safe_package_name(request.location), received_at=now)
        record = {**claim.to_json(), "object_version_id": _version_id(obj.version_id)}
        # Set-if-absent: a racing claimer's record, if first, is the one every attempt uses.
        return Claim.from_json(self.ledger.record_claim(request.version, record))

    def _upload_origin(self, request: IngestRequest, obj: Object) -> dict[str, Any]:
        """How the upload came (:func:`pipeline.intake.uploads.upload_origin`): read off the
        ZIP comment in its last bytes (one ranged GET) when the watcher packed it (its
        ``x-amz-meta-pipeline-packed`` metadata, pipeline/intake/bucket_uploads.py)."""
        if not (obj.metadata or {}).get(PACKED_META) or not request.size:
            return {}
        offset = max(0, request.size - ORIGIN_TAIL)
        try:
            response = self.client.get_object(self.inbox_bucket, request.location, offset=offset,
                                              length=request.size - offset, version_id=_version_id(obj.version_id),
                                              request_headers={"If-Match": f'"{stamp_etag(request.stamp)}"'})
        except S3Error as exc:
            if exc.code in _GONE or exc.code == "PreconditionFailed":
                return {}
            raise
        try:
            tail = response.read(decode_content=False)
        finally:
            response.close()
            response.release_conn()
        return origin_from_tail(tail)

    def local_package(self, claim: Claim, work_dir: Path) -> Path:
        """Download the claimed version into ``work_dir/package.zip``, streaming in 1 MiB
        chunks; check its size (and MD5, when the ETag is one)."""
        request = claim.request
        work_dir.mkdir(parents=True, exist_ok=True)
        target = work_dir / "package.zip"
        try:
            # If-Match: the server refuses to send a newer upload under the same key.
            response = self.client.get_object(self.inbox_bucket, request.location,
                                              version_id=self._object_version(claim),
                                              request_headers={"If-Match": f'"{stamp_etag(request.stamp)}"'})
        except S3Error as exc:
            if exc.code in _GONE or exc.code == "PreconditionFailed":
                raise StoreError(f"{claim.source.location}: the claimed version is no longer in the inbox") from exc
            raise
        md5 = hashlib.md5(usedforsecurity=False)
        size = 0
        try:
            with open(target, "wb") as fh:
                # decode_content=False: the stored bytes, even if an uploader set Content-Encoding.
                for chunk in response.stream(CHUNK_SIZE, decode_content=False):
                    fh.write(chunk)
                    md5.update(chunk)
                    size += len(chunk)
            etag, encrypted = normalize_etag(response.headers.get("etag")), _encrypted(response.headers)
        finally:
            response.close()
            response.release_conn()
        if size != request.size or etag != stamp_etag(request.stamp):
            raise StoreError(f"{claim.source.location}: downloaded {size} bytes of ETag {etag!r}, "
                             f"expected {request.size} bytes of ETag {stamp_etag(request.stamp)!r}")
        if _plain_md5(etag) and not encrypted and md5.hexdigest() != etag:
            raise StoreError(f"{claim.source.location}: download does not match its ETag (MD5)")
        return target

    def holds_package(self, claim: Claim) -> bool:
        """Whether the claimed version is still in the inbox."""
        return self._inbox_object(claim.request, self._object_version(claim)) is not None

    def abandon(self, claim: Claim) -> None:
        """Drop a claim record whose package is gone (never the package itself)."""
        if not self.holds_package(claim):
            self.ledger.drop_claim(claim.version)

    def claim_stored(self, location: str, package_name: str, sha256: str, key: str,
                     claim_for: Callable[[IngestRequest], Claim]) -> Claim:
        """A claim of a copy of the ZIP stored at the decision ``location``, to be decided
        again (``pipeline requeue``): a server-side copy into the inbox bucket under
        ``requeue/<key>/<name>`` (outside the watched prefix), claimed like an upload; the
        stored ZIP and document stay as they are. A repeat finds the copy and its claim."""
        bucket, _, prefix = location.partition("/")
        if bucket not in (self.archive_bucket, self.quarantine_bucket) or not prefix:
            raise StoreError(f"decision location {location!r} is not in the archive or quarantine")
        key_name = f"requeue/{key}/{package_name}"
        obj = self._stat(self.inbox_bucket, key_name)
        if obj is None:
            try:
                self.client.copy_object(self.inbox_bucket, key_name, CopySource(bucket, f"{prefix}/{package_name}"))
            except S3Error as exc:
                if exc.code in _GONE:
                    raise StoreError(f"no stored package {location}/{package_name}") from exc
                raise
            obj = self._stat(self.inbox_bucket, key_name)
            if obj is None:
                raise StoreError(f"the copy {self.inbox_bucket}/{key_name} vanished")
        if (obj.metadata.get(SHA256_META) or "").strip() != sha256:
            raise StoreError(f"{location}/{package_name} does not carry its document's SHA-256")
        request = inbox_request(obj)
        record = self.ledger.claim_record(request.version)
        if record is None:
            record = self.ledger.record_claim(request.version, {
                **claim_for(request).to_json(), "object_version_id": _version_id(obj.version_id)})
        return Claim.from_json(record)

    def pending_claims(self) -> list[Claim]:
        """Every claim record: packages still in the inbox, and moves whose last step
        (dropping the record) did not happen. A re-sent request finishes either."""
        out: list[Claim] = []
        for _version, record in sorted(self.ledger.claim_records().items()):
            try:
                out.append(Claim.from_json(record))
            except (KeyError, TypeError, ValueError):
                log.warning("store.bad_claim_record", version=_version)
        return out

    # -- deciding --------------------------------------------------------------------------
    def location_of(self, document: dict[str, Any]) -> str:
        return f"{self.decision_bucket(document)}/{self.decision_prefix(document).rstrip('/')}"

    # -- the journal (pipeline/intake/store.py): objects journal/<name> of the archive bucket
    def _record_key(self, name: str) -> str:
        return JOURNAL_PREFIX + check_journal_name(name)

    def put_record(self, name: str, data: bytes) -> None:
        self.client.put_object(self.archive_bucket, self._record_key(name), io.BytesIO(data), len(data),
                               content_type="application/json; charset=utf-8")

    def get_record(self, name: str) -> JournalRecord | None:
        key = self._record_key(name)
        try:
            response = self.client.get_object(self.archive_bucket, key)
        except S3Error as exc:
            if exc.code in _GONE:
                return None
            raise
        try:
            data = response.read()
            modified = response.headers.get("Last-Modified")
        finally:
            response.close()
            response.release_conn()
        written = parsedate_to_datetime(modified) if modified else datetime.now(timezone.utc)
        return JournalRecord(name, data, written)

    def delete_record(self, name: str) -> None:
        self.client.remove_object(self.archive_bucket, self._record_key(name))

    def list_records(self, folder: str) -> list[JournalRecord]:
        out = []
        prefix = self._record_key(folder) + "/"
        for obj in self.client.list_objects(self.archive_bucket, prefix=prefix):
            record = self.get_record(folder + "/" + (obj.object_name or "")[len(prefix):])
            if record is not None:
                out.append(record)
        return out

    def decision_bucket(self, document: dict[str, Any]) -> str:
        return self.archive_bucket if document["status"] == ACCEPTED else self.quarantine_bucket

    @staticmethod
    def decision_prefix(document: dict[str, Any]) -> str:
        return f"{receipt_month(document['receipt_id'])}/{document['receipt_id']}/"

    def _copy_verifies(self, bucket: str, key: str, request: IngestRequest, sha256: str) -> bool:
        copy = self._stat(bucket, key)
        if copy is None or copy.size != request.size:
            return False
        if (copy.metadata.get(SHA256_META) or "").strip() != sha256:
            return False
        copy_etag, claimed_etag = normalize_etag(copy.etag), stamp_etag(request.stamp)
        if _plain_md5(claimed_etag) and _plain_md5(copy_etag) and not _encrypted(copy.metadata):
            # Both MD5s of the bytes, computed by the server: the copy holds the claimed bytes.
            return copy_etag == claimed_etag
        return True

    def finalize(self, claim: Claim, document: dict[str, Any],
                 before_release: Callable[[], None] | None = None) -> str:
        """Store the document and the original ZIP in the decision's folder, delete the
        upload from the inbox, release the claim. Safe to repeat after a crash at any point.
        Returns ``<bucket>/<YYYY-MM>/<receipt id>``."""
        request = claim.request
        bucket, prefix = self.decision_bucket(document), self.decision_prefix(document)
        version_id = self._object_version(claim)
        target = prefix + claim.package_name
        sha256 = document["package"]["sha256"]
        reference = None
        if (document["status"] == DUPLICATE and document.get("duplicate_of")
                and not self._copy_verifies(bucket, target, request, sha256)):
            reference = self._archived_reference(document["duplicate_of"], request, document["package"]["size"],
                                                 sha256)
        data = dumps(with_stored_as(document, reference, REFERENCE if reference else None))
        # the document first: it says where the bytes are before the upload is let go
        self.client.put_object(bucket, prefix + document_filename(document), io.BytesIO(data), len(data),
                               content_type="application/json; charset=utf-8")
        if reference is None and not self._copy_verifies(bucket, target, request, sha256):
            if self._inbox_object(request, version_id, same_bytes_will_do=True) is None:
                raise StoreError(f"package of claim {claim.version} ({claim.source.location}) is neither "
                                 f"in the inbox nor verified at {bucket}/{target}")
            try:
                self.client.copy_object(
                    bucket, target,
                    CopySource(self.inbox_bucket, request.location, version_id=version_id,
                               match_etag=stamp_etag(request.stamp)),
                    metadata={"Content-Type": "application/zip", SHA256_META: sha256},
                    metadata_directive=REPLACE)
            except S3Error as exc:
                if exc.code in _GONE or exc.code == "PreconditionFailed":
                    raise StoreError(f"{claim.source.location} was replaced or removed while being "
                                     f"stored") from exc
                raise
            if not self._copy_verifies(bucket, target, request, sha256):
                raise StoreError(f"copy of {claim.source.location} to {bucket}/{target} does not verify")
        if before_release is not None:  # a fault point of the reliability tests
            before_release()
        # Only the claimed version: by VersionId when versioned, else after an ETag check.
        if self._inbox_object(request, version_id) is not None:
            self.client.remove_object(self.inbox_bucket, request.location, version_id=version_id)
        self.ledger.drop_claim(claim.version)
        return f"{bucket}/{prefix.rstrip('/')}"

    def _archived_reference(self, receipt_id: str, request: IngestRequest, size: int, sha256: str) -> str | None:
        """``<archive bucket>/<YYYY-MM>/<receipt id>/<masked name>`` of the archived ZIP of
        the acceptance ``receipt_id``, if it is stored and verifies as this upload's bytes:
        its receipt names this size and SHA-256, the object has this size and carries this
        SHA-256 (set when it was stored, after its own verification), and where both ETags
        are MD5s of the bytes they are equal. None: store a copy instead."""
        prefix = f"{receipt_month(receipt_id)}/{receipt_id}"
        try:
            accepted = self.read_document(f"{self.archive_bucket}/{prefix}")
        except (StoreError, ValueError):
            return None
        package = accepted.get("package") or {}
        if accepted.get("status") != ACCEPTED or (package.get("size"), package.get("sha256")) != (size, sha256):
            return None
        names = [(o.object_name or "").rpartition("/")[2]
                 for o in self.client.list_objects(self.archive_bucket, prefix=prefix + "/") if not o.is_dir]
        name = package_among(names, str(package.get("name") or ""))
        if name is None:
            return None
        obj = self._stat(self.archive_bucket, f"{prefix}/{name}")
        if obj is None or obj.size != size or (obj.metadata.get(SHA256_META) or "").strip() != sha256:
            return None
        etag, claimed = normalize_etag(obj.etag), stamp_etag(request.stamp)
        if _plain_md5(etag) and _plain_md5(claimed) and not _encrypted(obj.metadata) and etag != claimed:
            return None
        return f"{self.archive_bucket}/{prefix}/{redact(name)}"

    # -- retention (pipeline/ops/retention.py) ---------------------------------------------
    def remove_quarantined(self, location: str, file_name: str, document: dict[str, Any],
                           dry_run: bool = False) -> int | None:
        """Write ``document`` (marked ``package_removed``) into the quarantine folder
        ``location`` (``<quarantine bucket>/<YYYY-MM>/<receipt id>``), then delete the ZIP
        object ``file_name``. Bytes freed, or None when there is no such object. (A
        versioned bucket keeps the bytes as a noncurrent version until its lifecycle rule
        expires them.)"""
        bucket, _, prefix = location.partition("/")
        if bucket != self.quarantine_bucket or not prefix or "/" in file_name \
                or file_name in ("receipt.json", "errors.json"):
            raise StoreError(f"{location}/{file_name} is not a package in the quarantine")
        key = f"{prefix}/{file_name}"
        obj = self._stat(bucket, key)
        if obj is None:
            return None
        if dry_run:
            return int(obj.size or 0)
        data = dumps(document)
        self.client.put_object(bucket, f"{prefix}/{document_filename(document)}", io.BytesIO(data), len(data),
                               content_type="application/json; charset=utf-8")
        self.client.remove_object(bucket, key)
        return int(obj.size or 0)

    def read_document(self, location: str) -> dict[str, Any]:
        """The document of the decision at ``location`` (``<bucket>/<YYYY-MM>/<receipt id>``,
        as :meth:`finalize` returned it)."""
        bucket, _, prefix = location.partition("/")
        if bucket not in (self.archive_bucket, self.quarantine_bucket) or not prefix:
            raise StoreError(f"decision location {location!r} is not in the archive or quarantine")
        for name in ("receipt.json", "errors.json"):
            try:
                response = self.client.get_object(bucket, f"{prefix}/{name}")
            except S3Error as exc:
                if exc.code in _GONE:
                    continue
                raise
            try:
                return json.loads(response.read())
            finally:
                response.close()
                response.release_conn()
        raise StoreError(f"no decision document in {location!r}")
