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
    def get_record(self, name: str) -> JournalRecord | None: ...
    def delete_record(self, name: str) -> None: ...
    def list_records(self, folder: str) -> list[JournalRecord]:
        """The records ``<folder>/*`` of the journal."""
