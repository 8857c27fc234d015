"""The facts a check found in a package (pipeline/check/integrity.py), kept in the store's
journal from the decision until the catalogue holds them.

Deciding writes ``facts/<receipt id>.json`` before it records the decision, so whichever
attempt's decision stands, its facts are there; the ``package_decided`` step writes them to
the catalogue and then deletes the record. A redelivered message finds either the record
(and the catalogue's write is idempotent) or the catalogue already holding them. If the
catalogue database itself is lost, ``pipeline catalogue rebuild`` reads the facts again
from the archived ZIPs.
"""

from __future__ import annotations

import json

from pipeline.check.integrity import PackageFacts
from pipeline.intake.store import Store

FOLDER = "facts"


def record_name(receipt_id: str) -> str:
    return f"{FOLDER}/{receipt_id}.json"


def remember(store: Store, receipt_id: str, facts: PackageFacts) -> None:
    store.put_record(record_name(receipt_id), json.dumps(facts.to_json(), ensure_ascii=False,
                                                         sort_keys=True).encode("utf-8"))


def recall(store: Store, receipt_id: str) -> PackageFacts | None:
    record = store.get_record(record_name(receipt_id))
    if record is None:
        return None
    return PackageFacts.from_json(json.loads(record.data))


def settle(store: Store, receipt_id: str) -> None:
    """The catalogue holds the facts now."""
    store.delete_record(record_name(receipt_id))
