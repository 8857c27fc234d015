"""Where packages live: the inbox, claims in progress, the archive and the quarantine.

A package moves inbox -> claimed -> archive | quarantine and is never deleted anywhere
before it is stored in its next place. Every step can run twice: a claim is an atomic
rename, a re-run of a claimed package finds its claim again, and :meth:`finalize`
finishes a half-done move instead of redoing it.

On disk (``LocalStore``, :mod:`pipeline.intake.local_store`, under ``PIPELINE_DATA_DIR``)::

    inbox/[<account>/]<name>.zip               uploads (watched)
    claimed/<version>/{claim.json,package.zip}  a package being decided
    archive/<YYYY-MM>/<receipt id>/{<name>.zip,receipt.json}
    quarantine/<YYYY-MM>/<receipt id>/{<name>.zip,errors.json|receipt.json}
    work/<host>-<pid>-<version>/                scratch of one attempt, removed after it
    journal/<name>                              small durable records (below)

A **duplicate** (bytes an earlier receipt accepted) is stored without a second full
copy (spec section 6 allows it): its folder holds a *hard link* to the archived ZIP
when both lie on one file system, else (another file system, S3) no ZIP at all but a
*reference* in its document, ``"stored_as": {"same_bytes_as": "<archive location>/<name>",
"held_as": "hard_link" | "reference"}``. Either is made only after the archived ZIP was
found to hold the duplicate's bytes (its SHA-256 re-hashed on disk; on S3 its size, the
SHA-256 it was stored with and, where both are MD5s, its ETag), and the upload is let go
only after the document saying so is written. ``pipeline verify-archive`` follows the
reference and re-hashes what it names.

**Retention** (``pipeline prune-quarantine``, pipeline/ops/retention.py) removes old
quarantined ZIPs through :meth:`remove_quarantined`; the document stays, marked
``"package_removed": {...}``. Nothing in the archive is ever removed.

The **journal** holds what must survive a loss of Redis's data: decisions stored but not
yet announced and mailed (``announce/<receipt id>.json``), how far each receipt mail got
(``mail/<receipt id>.json``) and the id of the Redis the pipeline last initialised
(``redis-epoch``). Redis stays a fast index over the store: everything it holds can be
found or rebuilt from the documents and this journal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Protocol

from pipeline.intake.uploads import Claim, IngestRequest


class StoreError(RuntimeError):
    """Our own storage failed (not the package's fault); the step is retried."""


#: how a duplicate's folder holds its bytes (the document's ``stored_as.held_as``)
HARD_LINK, REFERENCE = "hard_link", "reference"
DOCUMENT_NAMES = ("receipt.json", "errors.json")


def with_stored_as(document: dict[str, Any], same_bytes_as: str | None, held_as: str | None) -> dict[str, Any]:
    """``document`` saying how its folder holds the package's bytes: as the archived ZIP
    ``same_bytes_as`` (a location ``<area>/<YYYY-MM>/<receipt id>/<masked name>``) by a
    hard link or by reference; without ``held_as``, as a copy of its own (no key)."""
    out = {k: v for k, v in document.items() if k != "stored_as"}
    if held_as is not None and same_bytes_as is not None:
        out["stored_as"] = {"same_bytes_as": same_bytes_as, "held_as": held_as}
    return out


def package_among(names: list[str], name: str) -> str | None:
    """Which of the file ``names`` of a decision folder is the ZIP its document calls
    ``name`` (masked): the one so named, else the one whose masked name it is, else the
    only file beside the document (the rule of ``Inventory.package_file``)."""
    from pipeline.check.privacy import redact

    files = sorted(n for n in names if n not in DOCUMENT_NAMES and not n.startswith("."))
    if name in files:
        return name
    masked = [n for n in files if redact(n) == name]
    if masked:
        return masked[0]
    return files[0] if len(files) == 1 else None


#: a journal record's name: lower-case words, digits, "-", "_", "." and one "/" level
JOURNAL_NAME = re.compile(r"^[a-z][a-z-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def check_journal_name(name: str) -> str:
    if not JOURNAL_NAME.match(name) or ".." in name:
        raise StoreError(f"not a journal record name: {name!r}")
    return name


@dataclass(frozen=True)
class JournalRecord:
    name: str
    data: bytes
    #: when it was last written (UTC)
    written_at: datetime


class Store(Protocol):
    def claim(self, request: IngestRequest, mint_receipt_id: Callable[[], str],
              now: datetime) -> Claim | None: ...
    def local_package(self, claim: Claim, work_dir: Path) -> Path: ...
    def holds_package(self, claim: Claim) -> bool: ...
    def abandon(self, claim: Claim) -> None: ...
    def finalize(self, claim: Claim, document: dict[str, Any],
                 before_release: Callable[[], None] | None = None) -> str: ...
    def pending_claims(self) -> list[Claim]: ...
    def read_document(self, location: str) -> dict[str, Any]:
        """The document of the decision stored at ``location`` (what finalize returned)."""
    def location_of(self, document: dict[str, Any]) -> str:
        """Where :meth:`finalize` stores (or stored) ``document``'s decision."""
    def put_record(self, name: str, data: bytes) -> None:
        """Write the journal record ``name`` durably (replacing it)."""
    def remove_quarantined(self, location: str, file_name: str, document: dict[str, Any],
                           dry_run: bool = False) -> int | None:
        """Retention: write ``document`` (marked ``package_removed``) over the decision's
        document in the quarantine folder ``location``, then remove its ZIP ``file_name``.
        Returns the bytes freed (with ``dry_run``: that would be; nothing is written),
        None when the folder holds no such ZIP. Refuses anything outside the quarantine."""
    def get_record(self, name: str) -> JournalRecord | None: ...
    def delete_record(self, name: str) -> None: ...
    def list_records(self, folder: str) -> list[JournalRecord]:
        """The records ``<folder>/*`` of the journal."""
