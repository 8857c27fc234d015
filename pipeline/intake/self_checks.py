"""Self-checks from the web (自查，未上报, issue 18): a clerk's ZIP checked by the workers
with exactly the checks of ``pipeline check`` — and then forgotten. Nothing of a self-check
enters the inbox, the ledger, the catalogue or the archive; no receipt is made or mailed.

``DATA/self-checks/<id>/`` holds ``request.json`` (account, name, size, when), the ZIP
``package.zip`` until it is checked, and ``report.json`` once it is: the document the check
made, personal numbers masked, written atomically (two workers given the same self-check,
e.g. a message sent again, write the same report). The ZIP is deleted after its check; the
folder after :data:`KEEP_SECONDS`. The web and the workers share the data folder (one host,
or the compose stack's volume)."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from pipeline.check.assess import assess
from pipeline.check.documents import Source, build_document, new_receipt_id
from pipeline.check.policy import Policy

#: a self-check's id: made here, 32 hex digits
SELF_CHECK_ID = re.compile(r"^[0-9a-f]{32}$")
#: how long a self-check's report is kept
KEEP_SECONDS = 7 * 24 * 3600
#: a self-check not started this long after it was asked for is asked again (a queue that
#: lost its message: Redis emptied)
ASK_AGAIN_AFTER_SECONDS = 120

WAITING, CHECKING, DONE = "waiting", "checking", "done"


class SelfChecks:
    """The self-checks of the data folder (module docstring)."""

    def __init__(self, root: Path, clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.clock = clock

    def create(self, staged: Path, account: str, name: str) -> str:
        """A new self-check of the complete upload at ``staged`` (moved in); its id."""
        check_id = secrets.token_hex(16)
        folder = self.root / check_id
        folder.mkdir(parents=True)
        os.replace(staged, folder / "package.zip")
        _write_json(folder / "request.json", {"id": check_id, "account": account, "name": name,
                                              "size": (folder / "package.zip").stat().st_size,
                                              "asked_at": self.clock()})
        return check_id

    def get(self, check_id: str) -> dict[str, Any] | None:
        """The self-check with its state (waiting, checking, done) and, when done, its
        document; None for an id that is not one."""
        if not SELF_CHECK_ID.match(check_id):
            return None
        folder = self.root / check_id
        try:
            request = json.loads((folder / "request.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None
        try:
            document = json.loads((folder / "report.json").read_text("utf-8"))
        except FileNotFoundError:
            document = None
        state = DONE if document is not None else (CHECKING if (folder / "checking").exists() else WAITING)
        return {**request, "state": state, "document": document}

    def due_again(self, found: dict[str, Any]) -> bool:
        """Whether a self-check still waiting should be asked for again (its message lost)."""
        return found["state"] == WAITING and self.clock() - float(found["asked_at"]) > ASK_AGAIN_AFTER_SECONDS

    def asked_again(self, check_id: str) -> None:
        folder = self.root / check_id
        request = json.loads((folder / "request.json").read_text("utf-8"))
        _write_json(folder / "request.json", {**request, "asked_at": self.clock()})

    def run(self, check_id: str, policy: Policy, work_dir: Path, now: Callable[[], datetime]) -> dict[str, Any] | None:
        """Check the self-check's ZIP (a worker's step); its document, or None when there is
        nothing (left) to check: already done, or removed."""
        found = self.get(check_id)
        if found is None or found["state"] == DONE:
            return None
        folder = self.root / check_id
        zip_path = folder / "package.zip"
        if not zip_path.is_file():
            return None
        (folder / "checking").touch()
        received = now()
        findings = assess(zip_path, found["name"], policy, work_dir, received.date())
        document = build_document(findings, receipt_id=new_receipt_id(received),
                                  source=Source("check", found["name"], account=found["account"]),
                                  received_at=received, decided_at=now())
        _write_json(folder / "report.json", document)
        zip_path.unlink(missing_ok=True)
        (folder / "checking").unlink(missing_ok=True)
        return document

    def sweep(self) -> int:
        """Remove the self-checks older than :data:`KEEP_SECONDS`; how many."""
        if not self.root.is_dir():
            return 0
        removed = 0
        for folder in self.root.iterdir():
            try:
                asked = json.loads((folder / "request.json").read_text("utf-8"))["asked_at"]
            except (OSError, ValueError, KeyError):
                asked = folder.stat().st_mtime
            if self.clock() - float(asked) > KEEP_SECONDS:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        return removed


def _write_json(target: Path, data: dict[str, Any]) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    os.replace(tmp, target)
