"""Uploads that are not one ZIP, in the S3 inbox bucket (issue 15): what
pipeline/intake/folder_uploads.py does for the inbox folder, for keys.

A listing of ``inbox/`` is sorted into (:func:`sort_listing`):

* **candidates**, each taken like one upload as before: an object directly under
  ``inbox/`` or ``inbox/<account>/`` that is an archive (by name, :func:`is_archive_name`,
  or by its first bytes, read with a ranged GET: ``sniff``), and every ZIP of a "folder"
  ``inbox/<account>/<folder>/`` that holds only ZIPs (plus junk: ``.DS_Store``,
  ``Thumbs.db``, ``._*``, ``__MACOSX/``);
* **groups**, each one upload: a **folder** (every key under ``inbox/<account>/<folder>/``,
  any depth, unless it holds only ZIPs) and the **loose files** of one level (the objects
  directly under ``inbox/<account>/``, or ``inbox/``, that are no archive);
* **unfinished** in-progress names (``*.part``, ``*.filepart``, ``*.tmp``, ``.x``, ``~x``)
  older than the stale-upload timeout, for ``pipeline status``. A young one makes its
  folder or level *busy*: it waits.

A group is taken (:class:`BucketPacker`) once it is not busy, no multipart upload is under
way below its prefix, its newest ``LastModified`` is older than the folder quiet period and
the watcher has seen it unchanged for as long (its own clock: a server clock behind ours
cannot make a folder look quiet early). Packing:

1. the lock ``lease:pack-<group key>`` in the ledger (set-if-absent, renewed while packing;
   a holder of this host whose process is dead is taken over at once, another host's
   after the lease runs out): two watchers never pack the same group;
2. the target key is chosen: ``inbox/<account>/<folder>.zip`` (``<folder>（2）.zip`` … if
   the name is taken by something else) or ``inbox/<account>/<account>散装文件<time>.zip``,
   ``<time>`` the newest member's ``LastModified``; a name already holding the ZIP of this
   very group (its metadata ``x-amz-meta-pipeline-packed`` = the group key, which hashes
   every source's key, size and ETag) is the target: it was put before a crash;
3. every member is streamed (GET with ``If-Match`` on its listed ETag: exactly the listed
   bytes; size and, for a plain MD5 ETag, MD5 checked) into a stored ZIP in a local
   temporary file under the watcher's work area
   (:func:`pipeline.intake.folder_uploads.write_stored_zip`: never a whole video in
   memory), which is read back and verified member by member (SHA-256 of the bytes read);
4. the packing is recorded in the ledger (``packings``, field = the target key: the
   group key and every source's key, ETag and version id);
5. the ZIP is PUT under the target key with the marker metadata; a stat verifies it;
6. only then are the sources deleted (by version id on a versioned bucket, else after a
   fresh ``stat`` shows the packed ETag), the record is dropped and the ZIP is handed
   over like any upload.

While a packing record names a key, that key is never handed over: its sources are not
deleted yet. A watcher that dies anywhere finishes at its next scan
(:meth:`BucketPacker.resume`): a record whose target holds the marked ZIP -> only step 6;
a record whose target is not there (the PUT never completed) -> dropped, the sources are
still there and are taken again once quiet; no record but the target holds this group's
ZIP (Redis lost it) -> step 6. So nothing is lost and nothing is answered twice.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, tzinfo
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minio import Minio
from minio.datatypes import Object
from minio.error import S3Error

from pipeline.check.contract import JUNK_FOLDER
from pipeline.intake.faults import NO_FAULTS, FaultPoints
from pipeline.intake.folder_uploads import (ARCHIVE_HEAD, CHINA_STANDARD_TIME, UploadGroup, group_key, PackError, ZipEntry, final_name, head_is_archive,
                                            is_archive_name, is_busy_name, is_junk, write_stored_zip)
from pipeline.intake.ledger import Ledger
from pipeline.intake.s3_store import PACKED_META
from pipeline.intake.scratch import held_by_dead_process, worker_identity
from pipeline.intake.uploads import IN_PROGRESS_PREFIXES, is_in_progress_name, packed_comment

__all__ = [
    "PACKED_META",
    "BucketGroup",
    "BucketMember",
    "BucketPacker",
    "Listing",
    "sniff_object",
    "sort_listing",
]

#: seconds the packing lock lives without a renewal (it is renewed while packing)
LOCK_SECONDS = 60
#: the lock is renewed at most this often while members are streamed
_RENEW_EVERY = 10.0
_CHUNK = 1 << 20
_GONE = frozenset({"NoSuchKey", "NoSuchVersion", "NoSuchObject"})


def _etag(value: str | None) -> str:
    return (value or "").strip().strip('"')


def _hidden(segment: str) -> bool:
    return segment.startswith(IN_PROGRESS_PREFIXES)


@dataclass(frozen=True)
class BucketMember:
    key: str  # the object's key
    relative: str  # inside the group: "理论/a.jpg" (folder) or "a.jpg" (loose)
    size: int
    etag: str
    last_modified: float  # epoch s


@dataclass(frozen=True)
class BucketGroup(UploadGroup):
    """A folder uploaded key by key, or the loose objects of one level, as listed now."""

    kind: str  # "folder" | "files"
    account: str  # "" at the top level
    relative: str  # inbox-relative, like the folders': "xinghuo/星火20261120" or "xinghuo" or ""
    members: tuple[BucketMember, ...]
    busy: bool  # a young in-progress name inside (or beside the loose files)
    last_change: float  # newest LastModified (epoch s), in-progress names included

    @property
    def signature(self) -> tuple[Any, ...]:
        return (self.busy, tuple((m.key, m.size, m.etag) for m in self.members))

    @property
    def key(self) -> str:
        """Fixed by what is taken: every source's key, size and ETag."""
        return group_key(self.kind, self.relative, [[m.key, m.size, m.etag] for m in self.members])


@dataclass
class Listing:
    """One listing of the inbox prefix, sorted."""

    candidates: list[Object] = field(default_factory=list)
    groups: list[BucketGroup] = field(default_factory=list)
    #: (inbox-relative name, account, LastModified) of in-progress names older than the
    #: stale-upload timeout: ``unfinished_upload`` for ``pipeline status``
    unfinished: list[tuple[str, str, float]] = field(default_factory=list)


def sniff_object(client: Minio, bucket: str, obj: Object) -> bool:
    """Whether the object's first bytes are an archive's (one ranged GET of
    :data:`ARCHIVE_HEAD` bytes); False when it cannot be read (gone, replaced)."""
    try:
        response = client.get_object(bucket, obj.object_name or "", offset=0, length=ARCHIVE_HEAD,
                                     request_headers={"If-Match": f'"{_etag(obj.etag)}"'})
    except S3Error:
        return False
    try:
        head = response.read(ARCHIVE_HEAD, decode_content=False)
    finally:
        response.close()
        response.release_conn()
    return head_is_archive(head)


def sort_listing(objects: Iterable[Object], prefix: str, now: float, unfinished_after: float,
                 sniff: Callable[[Object], bool] = lambda obj: False) -> Listing:
    """Sort the objects of a listing of ``prefix`` (see the module docstring). ``now``
    is wall-clock (LastModified is); ``sniff(obj)`` says whether an object whose name is
    no archive's starts like one (not called for folders' members)."""
    out = Listing()
    loose: dict[str, list[BucketMember]] = {}
    level_busy: dict[str, float] = {}
    folders: dict[tuple[str, str], list[tuple[Object, list[str]]]] = {}
    for obj in objects:
        key = obj.object_name or ""
        if obj.is_dir or not key.startswith(prefix):
            continue
        parts = key[len(prefix):].split("/")
        if any(not p for p in parts):
            continue  # "folder" markers (inbox/a/) and empty segments
        modified = obj.last_modified.timestamp() if obj.last_modified else now
        if len(parts) > 2:
            if _hidden(parts[0]) or _hidden(parts[1]):
                continue  # hidden "folders" are never looked into
            folders.setdefault((parts[0], parts[1]), []).append((obj, parts[2:]))
            continue
        account, name = (parts[0], parts[1]) if len(parts) == 2 else ("", parts[0])
        if _hidden(account):
            continue
        relative = key[len(prefix):]
        if is_in_progress_name(name):
            if now - modified > unfinished_after:
                out.unfinished.append((relative, account, modified))
            elif is_busy_name(name):  # loose files beside an upload in progress wait for it
                level_busy[account] = max(level_busy.get(account, 0.0), modified)
        elif is_archive_name(name) or sniff(obj):
            out.candidates.append(obj)
        else:
            loose.setdefault(account, []).append(
                BucketMember(key, name, int(obj.size or 0), _etag(obj.etag), modified))
    for level, members in sorted(loose.items()):
        members.sort(key=lambda m: m.relative)
        out.groups.append(BucketGroup("files", level, level, tuple(members), level in level_busy,
                                      max([m.last_modified for m in members] + [level_busy.get(level, 0.0)])))
    for (account, folder), entries in sorted(folders.items()):
        _folder(out, account, folder, entries, now, unfinished_after)
    out.candidates.sort(key=lambda o: o.object_name or "")
    out.groups.sort(key=lambda g: g.relative)
    out.unfinished.sort()
    return out


def _folder(out: Listing, account: str, folder: str, entries: list[tuple[Object, list[str]]], now: float,
            unfinished_after: float) -> None:
    """One "folder" below an account: a folder upload, or ZIPs to take one by one (the
    rule of :func:`pipeline.intake.folder_uploads.scan_folder`)."""
    members: list[tuple[BucketMember, Object, bool]] = []
    busy_finals: list[str] = []
    last_change = 0.0
    for obj, inner in entries:
        modified = obj.last_modified.timestamp() if obj.last_modified else now
        last_change = max(last_change, modified)
        name = inner[-1]
        if is_busy_name(name) and now - modified <= unfinished_after:
            busy_finals.append(final_name(name))
            continue
        junk = is_junk(name) or any(p.lower() == JUNK_FOLDER for p in inner[:-1])
        members.append((BucketMember(obj.object_name or "", "/".join(inner), int(obj.size or 0), _etag(obj.etag),
                                     modified), obj, junk))
    members.sort(key=lambda t: t[0].relative)
    finals = [m.relative.rpartition("/")[2] for m, _, junk in members if not junk] + busy_finals
    if not finals:
        return  # junk only: nothing was uploaded (yet)
    if all(n.lower().endswith(".zip") for n in finals):
        out.candidates.extend(obj for _, obj, junk in members if not junk)
        return
    out.groups.append(BucketGroup("folder", account, f"{account}/{folder}", tuple(m for m, _, _ in members),
                                  bool(busy_finals), last_change))


# --------------------------------------------------------------------------- packing


class _Abandoned(Exception):
    """A source changed or vanished while it was read: nothing is taken now."""


class BucketPacker:
    """Packs groups of the inbox bucket into one ZIP each (see the module docstring)."""

    def __init__(self, client: Minio, bucket: str, prefix: str, ledger: Ledger, work_dir: Path, logger: Any,
                 faults: FaultPoints = NO_FAULTS, holder: str | None = None,
                 stale_multipart_after: float = 1800.0, zone: tzinfo = CHINA_STANDARD_TIME) -> None:
        self.client = client
        self.zone = zone  # of the time in a loose-files ZIP's name
        self.bucket = bucket
        self.prefix = prefix
        self.ledger = ledger
        self.work_dir = Path(work_dir)
        self.holder = holder or worker_identity()
        self.stale_multipart_after = stale_multipart_after
        self._log = logger
        self._faults = faults  # the reliability tests' crash points (pipeline/intake/faults.py)

    # -- the lock ---------------------------------------------------------------------------
    def _lock(self, group_key: str) -> bool:
        name = f"pack-{group_key}"
        if self.ledger.acquire_lease(name, self.holder, LOCK_SECONDS):
            return True
        holder = self.ledger.lease_holder(name) or ""
        if held_by_dead_process(holder):
            self.ledger.release_lease(name, holder)  # a watcher of this host that died: take over
            return self.ledger.acquire_lease(name, self.holder, LOCK_SECONDS)
        return False

    def _unlock(self, group_key: str) -> None:
        self.ledger.release_lease(f"pack-{group_key}", self.holder)

    def held(self) -> set[str]:
        """The keys of packed ZIPs whose sources are not deleted yet: not to hand over."""
        return set(self.ledger.packing_records())

    def multipart_under_way(self, group: BucketGroup) -> bool:
        """Whether a multipart upload (a big file being uploaded) was begun below the
        group's prefix less than the stale-upload timeout ago. Best effort: a server that
        cannot list them (or lists only exact keys) says nothing."""
        prefix = f"{self.prefix}{group.relative}/" if group.kind == "folder" else \
            f"{self.prefix}{group.relative + '/' if group.relative else ''}"
        try:
            result = self.client._list_multipart_uploads(self.bucket, prefix=prefix, max_uploads=1000)
        except Exception:
            return False
        now = time.time()
        for upload in result.uploads or []:
            name = upload.object_name or ""
            if group.kind == "files" and "/" in name[len(prefix):]:
                continue  # a folder's, not beside the loose files
            initiated = upload.initiated_time
            if initiated is None or now - initiated.timestamp() <= self.stale_multipart_after:
                return True
        return False

    # -- packing ----------------------------------------------------------------------------
    def pack(self, group: BucketGroup) -> str | None:
        """Take ``group`` and publish it as one ZIP; returns the ZIP's key once its sources
        are deleted, or None when nothing was taken (another watcher has it, or a source
        changed or vanished: it is looked at again when quiet)."""
        key = group.key
        if not self._lock(key):
            return None
        try:
            target = self._target(group)
            record = self.ledger.packing_records().get(target)
            if record is not None and record.get("group") != key:
                record = None
            if self._published(target, key) is not None:
                # put before a crash, the sources not deleted yet: only that is left to do
                if record is None:
                    record = self.ledger.record_packing(target, self._record(group, {}))
                self._log.info("watcher.pack_resumed", key=key)
                self._release_sources(target, record)
                return target
            if record is not None:  # recorded, but the PUT never completed: packed anew
                self.ledger.drop_packing(target)
            try:
                self._pack_to(group, target)
            except _Abandoned as exc:
                self._log.warning("watcher.pack_abandoned", relative=group.relative, kind=group.kind,
                                  reason=f"{exc}; it is looked at again once quiet")
                return None
            return target
        finally:
            self._unlock(key)

    def _record(self, group: BucketGroup, versions: dict[str, str | None]) -> dict[str, Any]:
        return {"group": group.key, "kind": group.kind, "account": group.account, "relative": group.relative,
                "files": len(group.members), "since": time.time(),
                "sources": [[m.key, m.etag, versions.get(m.key)] for m in group.members]}

    def _names(self, group: BucketGroup) -> Iterator[str]:
        level = f"{self.prefix}{group.account}/" if group.account else self.prefix
        if group.kind == "folder":
            base = group.name
            stem, suffix = (base[:-4], base[-4:]) if base.lower().endswith(".zip") else (base, ".zip")
        else:
            stamp = datetime.fromtimestamp(max(m.last_modified for m in group.members), self.zone) \
                .strftime("%Y%m%d-%H%M%S")
            stem, suffix = f"{group.account}散装文件{stamp}", ".zip"
        for n in range(1, 1000):
            yield f"{level}{stem}{suffix}" if n == 1 else f"{level}{stem}（{n}）{suffix}"

    def _target(self, group: BucketGroup) -> str:
        """The first name that is free or holds (or is recorded to get) this group's ZIP."""
        records = self.ledger.packing_records()
        for name in self._names(group):
            record = records.get(name)
            if record is not None:
                if record.get("group") == group.key:
                    return name
                continue  # another group's packing
            obj = self._stat(name)
            if obj is None or (obj.metadata.get(PACKED_META) or "").strip() == group.key:
                return name
        raise PackError(f"no free name for the packed ZIP of {group.relative!r}")

    def _stat(self, key: str, version_id: str | None = None) -> Object | None:
        try:
            return self.client.stat_object(self.bucket, key, version_id=version_id)
        except S3Error as exc:
            if exc.code in _GONE:
                return None
            raise

    def _published(self, target: str, group_key: str) -> Object | None:
        obj = self._stat(target)
        if obj is not None and (obj.metadata.get(PACKED_META) or "").strip() == group_key:
            return obj
        return None

    def _pack_to(self, group: BucketGroup, target: str) -> None:
        work = self.work_dir / f"{self.holder}-packing"
        work.mkdir(parents=True, exist_ok=True)
        tmp = work / f"{group.key}.zip"
        versions: dict[str, str | None] = {}
        renewed = [time.monotonic()]
        top = group.name

        def entry(m: BucketMember) -> ZipEntry:
            arcname = f"{top}/{m.relative}" if group.kind == "folder" else m.relative
            return ZipEntry(arcname, int(m.last_modified * 1e9), lambda: self._chunks(m, versions, renewed, key))

        key = group.key
        try:
            write_stored_zip(tmp, [entry(m) for m in group.members],
                             packed_comment(group.kind, top, len(group.members)))
            self._faults.hit("pack_after_zip", group.relative)
            record = self.ledger.record_packing(target, self._record(group, versions))
            size = tmp.stat().st_size
            md5 = hashlib.md5(usedforsecurity=False)
            with open(tmp, "rb") as fh:
                while block := fh.read(_CHUNK):
                    md5.update(block)
            self.client.fput_object(self.bucket, target, str(tmp), content_type="application/zip",
                                    metadata={PACKED_META: key})
            self._faults.hit("pack_after_put", group.relative)
            put = self._published(target, key)
            etag = _etag(put.etag) if put is not None else ""
            if put is None or put.size != size or (len(etag) == 32 and "-" not in etag and etag != md5.hexdigest()):
                self.ledger.drop_packing(target)
                raise PackError(f"the packed ZIP {target!r} does not verify after its PUT")
        finally:
            tmp.unlink(missing_ok=True)
            try:
                work.rmdir()
            except OSError:
                pass
        self._log.info("watcher.packed", relative=group.relative, kind=group.kind, files=len(group.members),
                       size=size, zip=target[len(self.prefix):])
        self._release_sources(target, record)

    @contextmanager
    def _chunks(self, m: BucketMember, versions: dict[str, str | None], renewed: list[float],
                group_key: str) -> Iterator[Iterator[bytes]]:
        """The listed version of one source, streamed; its size and MD5 checked at the end."""
        try:
            response = self.client.get_object(self.bucket, m.key, request_headers={"If-Match": f'"{m.etag}"'})
        except S3Error as exc:
            if exc.code in _GONE or exc.code == "PreconditionFailed":
                raise _Abandoned(f"{m.key} changed or vanished while it was taken") from exc
            raise
        versions[m.key] = response.headers.get("x-amz-version-id") or None
        md5 = hashlib.md5(usedforsecurity=False)
        size = [0]

        def stream() -> Iterator[bytes]:
            for chunk in response.stream(_CHUNK, decode_content=False):
                md5.update(chunk)
                size[0] += len(chunk)
                if time.monotonic() - renewed[0] > _RENEW_EVERY:
                    self.ledger.renew_lease(f"pack-{group_key}", self.holder, LOCK_SECONDS)
                    renewed[0] = time.monotonic()
                yield chunk
            if size[0] != m.size or (len(m.etag) == 32 and md5.hexdigest() != m.etag):
                raise _Abandoned(f"{m.key} did not read back as its listed size and ETag")

        try:
            yield stream()
        finally:
            response.close()
            response.release_conn()

    def _release_sources(self, target: str, record: dict[str, Any]) -> None:
        """Step 6: delete the packed sources (exactly the versions packed), drop the record."""
        for key, etag, version_id in record.get("sources") or []:
            if version_id and version_id != "null":
                try:
                    self.client.remove_object(self.bucket, key, version_id=version_id)
                except S3Error as exc:
                    if exc.code not in _GONE:
                        raise
                continue
            obj = self._stat(key)
            if obj is not None and _etag(obj.etag) == etag:  # a newer upload under that key stays
                self.client.remove_object(self.bucket, key)
        self._faults.hit("pack_before_cleanup", record.get("relative", ""))
        self.ledger.drop_packing(target)

    def resume(self) -> list[str]:
        """Finish the packings a crash cut short (their records); returns the keys of the
        ZIPs now published with their sources deleted."""
        published = []
        for target, record in sorted(self.ledger.packing_records().items()):
            group_key = str(record.get("group") or "")
            if not self._lock(group_key):
                continue  # being packed right now
            try:
                if self.ledger.packing_records().get(target) != record:
                    continue  # finished meanwhile
                self._log.info("watcher.pack_resumed", key=group_key)
                if self._published(target, group_key) is None:
                    self.ledger.drop_packing(target)  # never put: the sources are all still there
                    continue
                self._release_sources(target, record)
                published.append(target)
            finally:
                self._unlock(group_key)
        return published

    def adopt(self, groups: Iterable[BucketGroup], listed: set[str]) -> list[str]:
        """Finish the packings whose ZIP was put but whose record the ledger lost (Redis
        came back empty): a group one of whose names is listed holding this group's ZIP
        (its marker) only has its sources deleted. Returns those ZIPs' keys. Run before
        any hand-over, so such a ZIP is never decided while its sources are still there."""
        published = []
        records = self.ledger.packing_records()
        for group in groups:
            for name in self._names(group):
                if name not in listed:
                    break
                if name in records or self._published(name, group.key) is None:
                    continue
                target = self.pack(group)  # finds the ZIP put: deletes the sources only
                if target is not None:
                    published.append(target)
                break
        return published

    def states(self) -> list[dict[str, Any]]:
        """The packings under way (or cut short), for ``pipeline status``."""
        return [{**record, "target": target} for target, record in sorted(self.ledger.packing_records().items())]
