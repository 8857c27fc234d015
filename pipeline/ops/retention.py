"""Retention of the quarantine: ``pipeline prune-quarantine --older-than DAYS [--dry-run]``
(docs/operations.md).

Rejected and duplicate packages wait in the quarantine for the institution to fix and
upload again, and for an operator to look at them; after that they only cost disk. This
removes the ZIPs of quarantined decisions decided more than ``DAYS`` days ago and keeps
every decision's document, marked ``"package_removed": {"at", "by": "retention",
"older_than_days"}`` (so ``pipeline receipt`` and ``find`` still answer, and say the ZIP
was removed). Each removal: the marked document is written first, then the ZIP is
removed (a crash in between is finished by the next run), then the index entry is
updated and one ``quarantine.removed`` line is logged.

What it never touches: the archive (accepted packages; the store refuses any folder
outside the quarantine), any document, and a duplicate held by reference (its folder
holds no bytes of its own). A duplicate held as a hard link is removed like any ZIP,
but frees nothing: its bytes stay in the archive (``bytes`` counts what is freed,
``size`` the ZIP's own size).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable

import structlog

from pipeline.check.documents import ACCEPTED
from pipeline.check.privacy import redact
from pipeline.intake.inventory import Inventory
from pipeline.intake.store import StoreError
from pipeline.catalogue.decisions import DecisionCatalogue

RETENTION = "retention"


def prune_quarantine(*, inventory: Inventory, store: Any, catalogue: DecisionCatalogue | None,
                     now: Callable[[], datetime], older_than_days: float, dry_run: bool) -> dict[str, Any]:
    """Remove (``dry_run``: list) the ZIPs of quarantined decisions decided before
    ``now() - older_than_days``. Returns what was (or would be) removed and a summary."""
    log = structlog.get_logger()
    at = now()
    cutoff = at - timedelta(days=older_than_days)
    removed: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    kept = 0
    for location in inventory.locations("quarantine"):
        try:
            document = inventory.read(location)
            decided = datetime.fromisoformat(document["decided_at"])
        except (StoreError, OSError, ValueError, KeyError) as exc:
            problems.append({"location": location, "problem": "unreadable_document", "detail": redact(str(exc))})
            continue
        if document.get("status") == ACCEPTED or decided > cutoff:  # never an acceptance; not old enough
            kept += 1
            continue
        name = inventory.package_file(location, (document.get("package") or {}).get("name") or "")
        if name is None:  # removed before, or a duplicate held by reference: no bytes of its own
            continue
        marked = {**document, "package_removed": document.get("package_removed") or {
            "at": at.isoformat(timespec="seconds"), "by": RETENTION, "older_than_days": older_than_days}}
        freed = store.remove_quarantined(location, name, marked, dry_run=dry_run)
        if freed is None:  # gone meanwhile
            continue
        item = {"receipt_id": document["receipt_id"], "status": document["status"],
                "decided_at": document["decided_at"], "location": location,
                "zip": redact(inventory.zip_ref(location, name)),
                "size": (document.get("package") or {}).get("size"), "bytes": freed}
        removed.append(item)
        if dry_run:
            continue
        if catalogue is not None:
            catalogue.record(marked, location)
        log.info("quarantine.removed", receipt_id=item["receipt_id"], status=item["status"],
                 decided_at=item["decided_at"], location=location, zip=item["zip"], size=item["size"],
                 bytes=freed, older_than_days=older_than_days)
    summary = {"dry_run": dry_run, "older_than_days": older_than_days,
               "cutoff": cutoff.isoformat(timespec="seconds"), "removed": len(removed),
               "bytes": sum(r["bytes"] for r in removed), "kept": kept, "items": removed, "problems": problems}
    if not dry_run:
        log.info("quarantine.pruned", removed=summary["removed"], bytes=summary["bytes"], kept=kept,
                 older_than_days=older_than_days, cutoff=summary["cutoff"])
    return summary
