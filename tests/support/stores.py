"""One handle per store implementation, so a test can speak of uploads, claims and stored
decisions without knowing whether they are folders (``LocalStore``) or buckets
(``S3Store`` on moto's server): :class:`LocalHarness`, :class:`S3Harness`.

Names are inbox-relative (``"xinghuo/a.zip"``): the path under ``inbox/`` on disk, the key
after the inbox prefix in the inbox bucket.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator
from unittest import mock

from pipeline.app.compose import Composition
from pipeline.app.settings import load_settings
from pipeline.intake.deciding import Services
from pipeline.intake.ledger import Ledger
from pipeline.intake.local_store import LocalStore
from pipeline.intake.s3_store import JOURNAL_PREFIX, S3Store, inbox_request
from pipeline.intake.uploads import Claim, IngestRequest
from tests.support.s3server import MotoS3, keys, put, read

#: not a ZIP: quarantined with PKG_NOT_ZIP
RAR = b"Rar!\x1a\x07\x01\x00" + bytes(range(256)) * 8


def small_zip(tag: str) -> bytes:
    """A ZIP the reader accepts (the stores' tests run no content checks); each ``tag``
    gives other bytes, the same ``tag`` the same bytes (a fixed time stamp: the clock's
    would differ between two calls two seconds apart)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(zipfile.ZipInfo("report/readme.txt", date_time=(2026, 11, 20, 9, 0, 0)),
                    f"package {tag}".encode())
    return buf.getvalue()


@dataclass(frozen=True)
class StoredDecision:
    """One decision folder (``archive|quarantine/<YYYY-MM>/<receipt id>/``) as stored."""

    area: str  # "archive" | "quarantine"
    location: str  # what finalize returned for it
    files: dict[str, bytes]  # file name -> bytes

    @property
    def document(self) -> dict[str, Any]:
        [name] = [n for n in self.files if n in ("receipt.json", "errors.json")]
        return json.loads(self.files[name])

    @property
    def zip_name(self) -> str:
        [name] = [n for n in self.files if not n.endswith(".json")]
        return name

    @property
    def zip_bytes(self) -> bytes:
        return self.files[self.zip_name]


class StoreHarness:
    """What the store contract suite needs of a store, in the store's own terms."""

    kind: str
    composition: Composition

    @property
    def services(self) -> Services:
        return self.composition.services

    @property
    def ledger(self) -> Ledger:
        return self.composition.ledger

    # -- uploads -----------------------------------------------------------------------------
    def drop(self, name: str, data: bytes) -> IngestRequest:
        """Upload ``data`` under ``name``: a new version of ``name``, even if the same bytes
        were uploaded under it before (as an institution uploading again does)."""
        raise NotImplementedError

    def replace(self, name: str, data: bytes) -> IngestRequest:
        """Upload new content under a name already used: its new version."""
        assert name in self._dropped, f"{name} was never uploaded"
        return self.drop(name, data)

    def inbox(self) -> dict[str, bytes]:
        """What waits in the inbox: name -> bytes."""
        raise NotImplementedError

    def inbox_is_empty(self) -> bool:
        return self.inbox() == {}

    def source_location(self, name: str) -> str:
        """The ``source.location`` a decision of the upload ``name`` names."""
        raise NotImplementedError

    # -- claims ------------------------------------------------------------------------------
    def claims_are_empty(self) -> bool:
        """No claim left anywhere: none pending, and no claim record or folder behind."""
        raise NotImplementedError

    def lose_package(self, claim: Claim) -> None:
        """The claimed package vanishes behind the pipeline's back (someone deleted it)."""
        raise NotImplementedError

    @contextmanager
    def stall_lookup(self, name: str, meanwhile: Callable[[], None]) -> Iterator[None]:
        """While active, the first look a claimer takes at the upload ``name`` in the inbox
        stalls: ``meanwhile()`` runs (another worker, start to finish) before it goes on
        with what it saw."""
        raise NotImplementedError
        yield

    # -- stored decisions --------------------------------------------------------------------
    def stored_decisions(self) -> list[StoredDecision]:
        raise NotImplementedError

    def stored_state(self) -> dict[str, Any]:
        """Everything stored, claimed or waiting, each with what changes when it is written
        again: equal snapshots mean nothing was touched in between."""
        raise NotImplementedError

    def package_bytes(self, decision: StoredDecision) -> bytes:
        """The package's bytes as its decision folder holds them: its own ZIP (a copy or a
        hard link), or, for a duplicate held by reference, the archived ZIP its document
        names (``stored_as.same_bytes_as``)."""
        held = decision.document.get("stored_as") or {}
        if held.get("held_as") != "reference":
            return decision.zip_bytes
        location = held["same_bytes_as"].rpartition("/")[0]
        [original] = [d for d in self.stored_decisions() if d.location == location]
        assert original.area == "archive" and original.document["receipt_id"] == decision.document["duplicate_of"]
        return original.zip_bytes

    def stored_copies(self, data: bytes) -> int:
        """How many times ``data`` is stored in the archive and the quarantine (a hard
        link to stored bytes is no second copy)."""
        raise NotImplementedError

    def let_time_pass(self) -> None:
        """Wait until a rewrite of anything would change its stamp in :meth:`stored_state`."""

    _dropped: dict[str, str]


class LocalHarness(StoreHarness):
    kind = "fs"

    def __init__(self, data_dir: Path, ledger: Ledger) -> None:
        settings = load_settings(env={"PIPELINE_DATA_DIR": str(data_dir)})
        # only the reader's rules: these tests are about the store, not the checks
        self.composition = Composition(settings, ledger=ledger, checks=())
        self._dropped = {}

    @property
    def store(self) -> LocalStore:
        return self.services.store  # type: ignore[return-value]

    def drop(self, name: str, data: bytes) -> IngestRequest:
        path = self.store.inbox / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        mtime = path.stat().st_mtime_ns
        previous = self._dropped.get(name)
        if previous is not None and mtime <= int(previous):  # a coarse clock: make it a new version
            mtime = int(previous) + 10**9
            os.utime(path, ns=(mtime, mtime))
        request = IngestRequest(name, path.stat().st_size, str(path.stat().st_mtime_ns))
        self._dropped[name] = request.stamp
        return request

    def inbox(self) -> dict[str, bytes]:
        root = self.store.inbox
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    def source_location(self, name: str) -> str:
        return f"inbox/{name}"

    def claims_are_empty(self) -> bool:
        return self.store.pending_claims() == [] and not any(self.store.claims.iterdir())

    def lose_package(self, claim: Claim) -> None:
        (self.store.claims / claim.version / "package.zip").unlink()

    @contextmanager
    def stall_lookup(self, name: str, meanwhile: Callable[[], None]) -> Iterator[None]:
        target, real_stat, done = self.store.inbox / name, Path.stat, []

        def stat(path: Path, *args: Any, **kwargs: Any) -> Any:
            st = real_stat(path, *args, **kwargs)
            if path == target and not done:
                done.append(True)
                meanwhile()
            return st

        with mock.patch.object(Path, "stat", stat):
            yield
        assert done, f"nobody looked at {name}"

    def stored_decisions(self) -> list[StoredDecision]:
        out = []
        for area in ("archive", "quarantine"):
            for folder in sorted((self.store.data_dir / area).glob("*/*")):
                out.append(StoredDecision(area, folder.relative_to(self.store.data_dir).as_posix(),
                                          {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}))
        return out

    def stored_state(self) -> dict[str, Any]:
        root = self.store.data_dir
        out: dict[str, Any] = {}
        for area in ("inbox", "claimed", "archive", "quarantine"):
            for p in sorted((root / area).rglob("*")):
                st = p.stat()
                # a rewrite (temp + rename) is a new inode
                out[p.relative_to(root).as_posix()] = (st.st_ino, st.st_size, st.st_mtime_ns)
        return out


    def stored_copies(self, data: bytes) -> int:
        inodes = set()
        for area in ("archive", "quarantine"):
            for p in (self.store.data_dir / area).glob("*/*/*"):
                if p.is_file() and p.suffix != ".json" and p.read_bytes() == data:
                    st = p.stat()
                    inodes.add((st.st_dev, st.st_ino))
        return len(inodes)


class S3Harness(StoreHarness):
    kind = "s3"

    def __init__(self, data_dir: Path, moto: MotoS3, ledger: Ledger) -> None:
        self.buckets = moto.new_buckets(create=False)  # the store creates them (ensure_buckets)
        settings = load_settings(env={"PIPELINE_DATA_DIR": str(data_dir), **moto.env(self.buckets)})
        # only the reader's rules: these tests are about the store, not the checks
        self.composition = Composition(settings, ledger=ledger, checks=())
        self._dropped = {}

    @property
    def store(self) -> S3Store:
        return self.services.store  # type: ignore[return-value]

    def key(self, name: str) -> str:
        return self.store.inbox_prefix + name

    def drop(self, name: str, data: bytes, **kw: Any) -> IngestRequest:
        """``kw``: for :func:`tests.support.s3server.put` (``part_size``: a multipart upload)."""
        key, client = self.key(name), self.store.client
        for _ in range(3):
            put(client, self.store.inbox_bucket, key, data, **kw)
            request = inbox_request(client.stat_object(self.store.inbox_bucket, key))
            if request.stamp != self._dropped.get(name):
                break
            # The stamp has Last-Modified in whole seconds: the same bytes again in the same
            # second are the same version. Upload them again in the next second.
            time.sleep(1.0 - time.time() % 1.0 + 0.05)
        self._dropped[name] = request.stamp
        return request  # still the old stamp after 3 tries: for the caller's test to notice

    def inbox(self) -> dict[str, bytes]:
        bucket, prefix = self.store.inbox_bucket, self.store.inbox_prefix
        return {k.removeprefix(prefix): read(self.store.client, bucket, k) for k in keys(self.store.client, bucket)}

    def bucket_keys(self, which: str) -> list[str]:
        """The keys in the inbox, archive or quarantine bucket (without the journal's,
        which the archive bucket also holds)."""
        return [k for k in keys(self.store.client, getattr(self.store, f"{which}_bucket"))
                if not k.startswith(JOURNAL_PREFIX)]

    def source_location(self, name: str) -> str:
        return f"{self.store.inbox_bucket}/{self.key(name)}"

    def claims_are_empty(self) -> bool:
        return self.store.pending_claims() == [] and self.ledger.claim_records() == {}

    def lose_package(self, claim: Claim) -> None:
        self.store.client.remove_object(self.store.inbox_bucket, claim.request.location)

    @contextmanager
    def stall_lookup(self, name: str, meanwhile: Callable[[], None]) -> Iterator[None]:
        client, bucket, key, done = self.store.client, self.store.inbox_bucket, self.key(name), []
        real_stat = client.stat_object

        def stat_object(bucket_name: str, object_name: str, *args: Any, **kwargs: Any) -> Any:
            st = real_stat(bucket_name, object_name, *args, **kwargs)
            if (bucket_name, object_name) == (bucket, key) and not done:
                done.append(True)
                meanwhile()
            return st

        with mock.patch.object(client, "stat_object", stat_object):
            yield
        assert done, f"nobody looked at {name}"

    def stored_decisions(self) -> list[StoredDecision]:
        out = []
        for area in ("archive", "quarantine"):
            bucket = getattr(self.store, f"{area}_bucket")
            folders: dict[str, dict[str, bytes]] = {}
            for key in keys(self.store.client, bucket):
                if key.startswith(JOURNAL_PREFIX):  # the journal's records are no decisions
                    continue
                prefix, _, name = key.rpartition("/")
                folders.setdefault(prefix, {})[name] = read(self.store.client, bucket, key)
            out.extend(StoredDecision(area, f"{bucket}/{prefix}", files) for prefix, files in sorted(folders.items()))
        return out

    def stored_state(self) -> dict[str, Any]:
        client, out = self.store.client, {}
        for area in ("inbox", "archive", "quarantine"):
            bucket = getattr(self.store, f"{area}_bucket")
            for obj in client.list_objects(bucket, recursive=True):
                out[f"{bucket}/{obj.object_name}"] = (obj.etag, obj.size, obj.last_modified)
        out["claims"] = self.ledger.claim_records()
        return out

    def let_time_pass(self) -> None:
        time.sleep(1.05)  # Last-Modified has whole seconds

    def stored_copies(self, data: bytes) -> int:
        return sum(1 for d in self.stored_decisions() for n, b in d.files.items()
                   if not n.endswith(".json") and b == data)
