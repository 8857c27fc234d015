"""The store on one file system (a local disk, or a share every worker mounts): the
folders under the data directory (see :mod:`pipeline.intake.store` for the layout)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import structlog

from pipeline.check.documents import ACCEPTED, DUPLICATE, Source, document_filename, dumps, receipt_month
from pipeline.check.files import fsync_dir, hash_file, write_atomic, write_if_absent
from pipeline.check.privacy import redact
from pipeline.intake.store import (HARD_LINK, REFERENCE, JournalRecord, StoreError, check_journal_name,
                                   package_among, with_stored_as)
from pipeline.intake.uploads import Claim, IngestRequest, claim_record, readable, safe_package_name, upload_origin


#: os.link failures that mean "no hard link here" (another file system, too many links,
#: a file system without links): the duplicate is then held by reference
_NO_LINK = frozenset({errno.EXDEV, errno.EMLINK, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP})

#: a claim folder without its record is removed once it is this old (seconds); younger,
#: a claimer may be between creating the folder and writing the record into it (and
#: if it is removed under one, its write fails and the message is retried: no harm)
ABANDONED_CLAIM_FOLDER_SECONDS = 5.0


def move_verified(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst``: a rename on one file system, else copy + fsync + verify
    the SHA-256 + rename, and only then remove ``src``."""
    try:
        os.rename(src, dst)
        fsync_dir(dst.parent)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    with open(src, "rb") as fin, open(tmp, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
        fout.flush()
        os.fsync(fout.fileno())
    if hash_file(src) != hash_file(tmp):
        tmp.unlink(missing_ok=True)
        raise StoreError(f"copy of {src} to {dst} does not match the original")
    os.rename(tmp, dst)
    fsync_dir(dst.parent)
    src.unlink()


class LocalStore:
    """The store on one file system (a local disk or a share all workers mount)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.inbox = data_dir / "inbox"
        self.claims = data_dir / "claimed"
        self.archive = data_dir / "archive"
        self.quarantine = data_dir / "quarantine"
        self.work = data_dir / "work"
        self.journal = data_dir / "journal"

    def ensure_layout(self) -> None:
        for folder in (self.inbox, self.claims, self.archive, self.quarantine, self.work, self.journal):
            folder.mkdir(parents=True, exist_ok=True)

    # -- the journal (pipeline/intake/store.py) -----------------------------------------
    def _record_path(self, name: str) -> Path:
        return self.journal / check_journal_name(name)

    def put_record(self, name: str, data: bytes) -> None:
        path = self._record_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)

    def get_record(self, name: str) -> JournalRecord | None:
        path = self._record_path(name)
        try:
            return JournalRecord(name, path.read_bytes(), _mtime(path))
        except FileNotFoundError:
            return None

    def delete_record(self, name: str) -> None:
        self._record_path(name).unlink(missing_ok=True)

    def list_records(self, folder: str) -> list[JournalRecord]:
        base = self._record_path(folder)
        out = []
        for path in sorted(base.glob("*")) if base.is_dir() else []:
            if path.name.startswith("."):  # a write in progress (write_atomic's temp file)
                continue
            try:
                out.append(JournalRecord(f"{folder}/{path.name}", path.read_bytes(), _mtime(path)))
            except FileNotFoundError:  # deleted meanwhile
                continue
        return out

    # -- claiming -------------------------------------------------------------------------
    def _claim_paths(self, version: str) -> tuple[Path, Path, Path]:
        folder = self.claims / version
        return folder, folder / "claim.json", folder / "package.zip"

    def _load_claim(self, meta: Path) -> Claim:
        return Claim.from_json(json.loads(meta.read_text(encoding="utf-8")))

    def claim(self, request: IngestRequest, mint_receipt_id: Callable[[], str],
              now: datetime) -> Claim | None:
        """Take the upload out of the inbox (atomic rename), or find it already taken.

        None: there is nothing to claim — the version is gone from the inbox and has no
        claim (already decided, or replaced by a newer upload under the same name).
        """
        folder, meta, package = self._claim_paths(request.version)
        if package.exists():
            return self._load_claim(meta)
        source_path = self.inbox / request.location
        try:
            st = source_path.stat()
        except FileNotFoundError:
            # A claim record whose package already moved on: a crash between storing
            # the ZIP and releasing the claim. Hand it back so the move is finished.
            return self._load_claim(meta) if meta.exists() else None
        if st.st_size != request.size or str(st.st_mtime_ns) != request.stamp:
            return None  # a newer upload replaced it; that version has its own message
        folder.mkdir(parents=True, exist_ok=True)
        claim = Claim(request=request, receipt_id=mint_receipt_id(),
                      source=Source("fs", f"inbox/{readable(request.location)}", readable(request.account),
                                    **upload_origin(source_path)),  # a folder packed by the watcher
                      package_name=safe_package_name(request.location), received_at=now)
        created = write_if_absent(meta, claim_record(claim))  # a racing claimer's record, if first, is the one
        try:
            os.rename(source_path, package)
        except FileNotFoundError:
            if not package.exists():
                # Gone between our stat and our rename: another claimer took it (and may
                # have finished and released it already), or it was deleted. A record we
                # just created would be an orphan claim holding nothing: remove it.
                if created:
                    meta.unlink(missing_ok=True)
                    try:
                        folder.rmdir()
                    except OSError:  # a racing claimer's files: theirs to clean
                        pass
                return None
        fsync_dir(folder)
        return self._load_claim(meta)

    def local_package(self, claim: Claim, work_dir: Path) -> Path:
        """A local path of the claimed ZIP (here: where it already lies)."""
        return self._claim_paths(claim.version)[2]

    def holds_package(self, claim: Claim) -> bool:
        return self._claim_paths(claim.version)[2].exists()

    def abandon(self, claim: Claim) -> None:
        """Drop a claim record that holds no package (never the package itself)."""
        if not self.holds_package(claim):
            self._release(claim)

    def _release(self, claim: Claim) -> None:
        folder, meta, _ = self._claim_paths(claim.version)
        meta.unlink(missing_ok=True)
        # A process killed inside write_if_absent/write_atomic leaves its temp file
        # (".claim.json.<pid>...tmp"); it would keep the folder from ever being removed.
        for leftover in folder.glob(".*.tmp") if folder.is_dir() else ():
            leftover.unlink(missing_ok=True)
        try:
            folder.rmdir()
        except OSError:  # gone already, or a racing claimer's files: left for them
            pass

    def claim_stored(self, location: str, package_name: str, sha256: str, key: str,
                     claim_for: Callable[[IngestRequest], Claim]) -> Claim:
        """A claim holding a copy of the ZIP stored in the decision folder ``location``, to
        be decided again (``pipeline requeue``); the stored ZIP and document stay as they
        are. ``key`` (the old receipt id) makes the version stable, so a repeat finds the
        same claim. The copy is verified against ``sha256`` before the claim holds it."""
        source = self._inside(location) / package_name
        try:
            size = source.stat().st_size
        except FileNotFoundError as exc:
            raise StoreError(f"no stored package {location}/{package_name}") from exc
        request = IngestRequest(f"requeue/{key}/{package_name}", size, f"requeue:{key}")
        folder, meta, package = self._claim_paths(request.version)
        if package.exists():
            return self._load_claim(meta)
        folder.mkdir(parents=True, exist_ok=True)
        write_if_absent(meta, claim_record(claim_for(request)))
        tmp = folder / f".package.zip.{os.getpid()}.tmp"
        with open(source, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
            fout.flush()
            os.fsync(fout.fileno())
        if hash_file(tmp) != (size, sha256):
            tmp.unlink(missing_ok=True)
            raise StoreError(f"{location}/{package_name} does not match its document's SHA-256")
        os.rename(tmp, package)
        fsync_dir(folder)
        return self._load_claim(meta)

    def pending_claims(self) -> list[Claim]:
        out: list[Claim] = []
        if not self.claims.is_dir():
            return out
        for folder in sorted(self.claims.iterdir()):
            # A claim record without its package is one whose move finished but whose
            # release did not (a crash in between): it is pending too, to be released.
            meta = folder / "claim.json"
            if meta.is_file():
                try:
                    out.append(self._load_claim(meta))
                except (OSError, ValueError, KeyError):
                    continue
            else:
                self._sweep_released(folder)
        return out

    def _sweep_released(self, folder: Path) -> None:
        """Remove a claim folder left without its record: a process killed between the
        two steps of a release (record deleted, folder not yet), or inside writing the
        record. Only once it stayed so for a while, and never one holding a package."""
        try:
            if time.time() - folder.stat().st_mtime < ABANDONED_CLAIM_FOLDER_SECONDS:
                return  # a claimer may be between creating it and writing the record
            if (folder / "package.zip").exists():
                structlog.get_logger().error("store.claim_folder_without_record", folder=str(folder))
                return
            for leftover in folder.glob(".*.tmp"):
                leftover.unlink(missing_ok=True)
            folder.rmdir()
        except OSError:  # gone meanwhile, or someone's files appeared: leave it
            return

    # -- deciding -------------------------------------------------------------------------
    def location_of(self, document: dict[str, Any]) -> str:
        return str(self.decision_dir(document).relative_to(self.data_dir))

    def decision_dir(self, document: dict[str, Any]) -> Path:
        area = self.archive if document["status"] == ACCEPTED else self.quarantine
        return area / receipt_month(document["receipt_id"]) / document["receipt_id"]

    def finalize(self, claim: Claim, document: dict[str, Any],
                 before_release: Callable[[], None] | None = None) -> str:
        """Store the document and the original ZIP in the decision's folder, then release
        the claim. Safe to repeat after a crash at any point. ``before_release`` runs
        between the two (a fault point of the reliability tests)."""
        target = self.decision_dir(document)
        target.mkdir(parents=True, exist_ok=True)
        package = self._claim_paths(claim.version)[2]
        final_zip = target / claim.package_name
        if document["status"] == DUPLICATE and document.get("duplicate_of"):
            self._store_duplicate(claim, document, target, package, final_zip)
        else:
            write_atomic(target / document_filename(document), dumps(document))
            if package.exists():
                move_verified(package, final_zip)
            elif not final_zip.exists():
                raise StoreError(f"package of claim {claim.version} is neither claimed nor stored in {target}")
        if before_release is not None:
            before_release()
        self._release(claim)
        return str(target.relative_to(self.data_dir))

    def _archived_package(self, receipt_id: str, document: dict[str, Any]) -> tuple[Path, str] | None:
        """The archived ZIP of the acceptance ``receipt_id`` if it is stored and claims
        ``document``'s bytes (its receipt's size and SHA-256): (its path, its location
        for ``stored_as``, the name masked). None: not stored (yet), or not those bytes."""
        folder = self.archive / receipt_month(receipt_id) / receipt_id
        try:
            accepted = json.loads((folder / "receipt.json").read_text(encoding="utf-8"))
            names = [e.name for e in os.scandir(folder) if e.is_file(follow_symlinks=False)]
        except (OSError, ValueError):
            return None
        package = accepted.get("package") or {}
        if (accepted.get("status") != ACCEPTED
                or (package.get("size"), package.get("sha256")) != (document["package"]["size"],
                                                                    document["package"]["sha256"])):
            return None
        name = package_among(names, str(package.get("name") or ""))
        if name is None:
            return None
        location = folder.relative_to(self.data_dir).as_posix()
        return folder / name, f"{location}/{redact(name)}"

    def _store_duplicate(self, claim: Claim, document: dict[str, Any], target: Path, package: Path,
                         final_zip: Path) -> None:
        """Store a duplicate without a second copy of its bytes, when the archived ZIP of
        the receipt it duplicates is there and verifies: a hard link to it (the folder
        holds the ZIP, the disk holds it once), or, where no link can be made (another
        file system), a reference in the document and no ZIP. Else (the acceptance is not
        stored yet, or its ZIP does not verify) as any decision: the ZIP moved in whole.
        The claimed ZIP is removed only once the document saying where its bytes are is
        written. Safe to repeat after a crash at any point."""
        doc_path = target / document_filename(document)
        original = self._archived_package(document["duplicate_of"], document)
        if final_zip.exists():
            # a repeat: the bytes are here already, as a link (verified before it was made)
            # or as a verified copy; the claimed ZIP, if still there, holds the same bytes
            linked = original is not None and os.path.samefile(final_zip, original[0])
            write_atomic(doc_path, dumps(with_stored_as(document, original[1] if original else None,
                                                        HARD_LINK if linked else None)))
            if package.exists():
                package.unlink()
                fsync_dir(package.parent)
            return
        if not package.exists():
            # a repeat after the claimed ZIP was let go: held by reference, said so already
            try:
                stored = json.loads(doc_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                stored = {}
            if (stored.get("stored_as") or {}).get("held_as") == REFERENCE and original is not None:
                return
            raise StoreError(f"package of claim {claim.version} is neither claimed nor stored in {target}")
        if original is None or hash_file(original[0]) != (document["package"]["size"], document["package"]["sha256"]):
            write_atomic(doc_path, dumps(document))
            move_verified(package, final_zip)
            return
        try:
            os.link(original[0], final_zip)
            fsync_dir(target)
            held = HARD_LINK
        except OSError as exc:
            if exc.errno not in _NO_LINK:
                raise
            held = REFERENCE
        write_atomic(doc_path, dumps(with_stored_as(document, original[1], held)))
        package.unlink()
        fsync_dir(package.parent)

    # -- retention (pipeline/ops/retention.py) ---------------------------------------------
    def remove_quarantined(self, location: str, file_name: str, document: dict[str, Any],
                           dry_run: bool = False) -> int | None:
        """Write ``document`` (marked ``package_removed``) into the quarantine folder
        ``location``, then remove the ZIP ``file_name``. Bytes freed (0 for a hard link
        whose bytes the archive also holds), or None when there is no such ZIP."""
        folder = self._inside(location)
        if not folder.is_relative_to(self.quarantine.resolve()) or folder == self.quarantine.resolve():
            raise StoreError(f"{location!r} is not a decision folder of the quarantine")
        zip_path = folder / file_name
        if zip_path.parent != folder or file_name in ("receipt.json", "errors.json"):
            raise StoreError(f"{file_name!r} is not a package of {location!r}")
        try:
            st = zip_path.lstat()
        except FileNotFoundError:
            return None
        freed = st.st_size if st.st_nlink == 1 else 0
        if dry_run:
            return freed
        write_atomic(folder / document_filename(document), dumps(document))
        zip_path.unlink(missing_ok=True)
        fsync_dir(folder)
        return freed

    def _inside(self, location: str) -> Path:
        """The folder of a decision ``location``, refusing anything outside the store."""
        root = self.data_dir.resolve()
        folder = (root / location).resolve()
        if folder == root or not folder.is_relative_to(root):
            raise StoreError(f"decision location {location!r} is outside the store")
        return folder

    def read_document(self, location: str) -> dict[str, Any]:
        """The document (``receipt.json`` or ``errors.json``) in the decision folder
        ``location`` (relative to the data directory, as :meth:`finalize` returned it)."""
        folder = self._inside(location)
        for name in ("receipt.json", "errors.json"):
            path = folder / name
            if path.is_file():
                return json.loads(path.read_text(encoding="utf-8"))
        raise StoreError(f"no decision document in {location!r}")


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
