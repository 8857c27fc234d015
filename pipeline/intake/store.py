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
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Protocol

from pipeline.intake.uploads import Claim, IngestRequest


class StoreError(RuntimeError):
    """Our own storage failed (not the package's fault); the step is retried."""


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
