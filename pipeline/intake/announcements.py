"""Announcements kept in the store's journal: a decision that is stored but whose
receipt mail has not reached a final state.

Deciding writes ``announce/<receipt id>.json`` (the outcome the ``package_decided``
message carries) just before it releases the claim, so from the moment a package leaves
``claimed/`` one durable record says "this decision still has to be announced and
mailed". The mail actor deletes it once the mail reached a final state (sent, unknown,
rejected, or given up). Whatever Redis loses meanwhile — the follow-up message, a retry,
all its data — the watcher's recovery scan finds the record and sends the decision on
again (:func:`due`); the mail's own records make sure it is never mailed twice
(pipeline/notify/mailer.py).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable, Iterable

from pipeline.intake.store import Store

FOLDER = "announce"


def record_name(receipt_id: str) -> str:
    return f"{FOLDER}/{receipt_id}.json"


def remember(store: Store, outcome: dict[str, Any]) -> None:
    """Record that ``outcome``'s decision still has to be announced and mailed."""
    store.put_record(record_name(outcome["receipt_id"]),
                     json.dumps(outcome, ensure_ascii=False, sort_keys=True).encode("utf-8"))


def settle(store: Store, receipt_id: str) -> None:
    """The decision's mail reached a final state: nothing is left to announce."""
    store.delete_record(record_name(receipt_id))


def pending(store: Store) -> list[tuple[dict[str, Any], datetime]]:
    """(outcome, when it was recorded) of every decision not yet settled, oldest first."""
    out = []
    for record in store.list_records(FOLDER):
        try:
            outcome = json.loads(record.data)
        except ValueError:  # cannot happen with our atomic writes; never block the rest
            continue
        if isinstance(outcome, dict) and "receipt_id" in outcome and "location" in outcome:
            out.append((outcome, record.written_at))
    return sorted(out, key=lambda item: item[1])


def due(records: Iterable[tuple[dict[str, Any], datetime]], now: datetime, after_seconds: float,
        in_flight: Callable[[str], bool]) -> list[dict[str, Any]]:
    """The outcomes to send on again: recorded more than ``after_seconds`` ago and not
    ``in_flight(receipt_id)`` (a mail attempt is under way or waiting for its retry)."""
    return [outcome for outcome, written_at in records
            if (now - written_at).total_seconds() > after_seconds and not in_flight(outcome["receipt_id"])]
