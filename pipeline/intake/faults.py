"""Fault points: named places in the processing of a package where the fault-injection
tests make a real worker die, fail or stall, to prove that nothing is lost or decided
twice whatever point a crash hits.

Off unless ``PIPELINE_FAULT_POINTS`` is set (never in production), e.g.::

    PIPELINE_FAULT_POINTS="after_claim=kill-once,before_release=kill-once"

Actions: ``kill`` (SIGKILL this process), ``kill-once`` (the first process to get there
with a given package is killed, later ones pass: a marker file under ``DATA/faults/`` makes "once" hold
across processes and restarts), ``raise`` / ``raise-once`` (an exception: our own
fault, retried), ``sleep=<seconds>``. An action may be limited to packages whose source
contains a text: ``after_claim=raise@poison`` raises only for sources containing
"poison".

The points, in order: ``after_claim`` (claimed, not yet checked), ``after_assess``
(checked, decision not recorded), ``after_decision`` (decision recorded, nothing moved),
``before_release`` (the ZIP and document are in their final place, the claim or inbox
object is not yet released), ``after_finalize`` (stored, follow-up message not sent).
``after_retry_enqueued`` is hit by the broker's fault middleware (workers/broker.py) after
an attempt failed and Dramatiq queued its retry, before the failed message is
acknowledged: a kill there leaves two copies of the message, the retry and the
redelivered original.

The watcher's packing of a folder upload or of loose files (pipeline/intake/folder_uploads.py)
has its own points, hit with the group's inbox path as the source: ``pack_after_take``
(the sources moved into the holder, no ZIP yet), ``pack_after_zip`` (the ZIP written and
verified, not published), ``pack_after_link`` (linked into the account folder, the
holder's copy not yet dropped), ``pack_before_cleanup`` (published, the holder and the
moved sources not yet removed). The bucket watcher's packing (pipeline/intake/bucket_uploads.py)
hits ``pack_after_zip`` (the ZIP written in the work area and verified, not put),
``pack_after_put`` (put into the inbox bucket, its sources not yet deleted) and
``pack_before_cleanup`` (the sources deleted, the ledger's packing record not yet dropped).
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

POINTS = ("after_claim", "after_assess", "after_decision", "before_release", "after_finalize",
          "after_retry_enqueued", "pack_after_take", "pack_after_zip", "pack_after_link", "pack_before_cleanup",
          "pack_after_put")
ACTIONS = ("kill", "kill-once", "raise", "raise-once", "sleep")


class InjectedFault(RuntimeError):
    """Raised by a ``raise`` fault point: stands for a bug or an outage of ours."""


@dataclass(frozen=True)
class _Rule:
    action: str
    seconds: float = 0.0
    only: str = ""


class FaultPoints:
    def __init__(self, spec: str = "", marker_dir: Path | None = None) -> None:
        self.rules: dict[str, _Rule] = parse_fault_points(spec)
        self.marker_dir = marker_dir

    def __bool__(self) -> bool:
        return bool(self.rules)

    def hit(self, point: str, source: str = "") -> None:
        rule = self.rules.get(point)
        if rule is None or (rule.only and rule.only not in source):
            return
        if rule.action.endswith("-once") and not self._first(point, source):
            return
        if rule.action.startswith("kill"):
            os.kill(os.getpid(), signal.SIGKILL)
        elif rule.action.startswith("raise"):
            raise InjectedFault(f"fault point {point} for {source}")
        elif rule.action == "sleep":
            time.sleep(rule.seconds)

    def _first(self, point: str, source: str) -> bool:
        if self.marker_dir is None:
            return True
        self.marker_dir.mkdir(parents=True, exist_ok=True)
        marker = self.marker_dir / f"{point}-{hashlib.sha256(source.encode('utf-8', 'surrogateescape')).hexdigest()[:16]}"
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return False
        os.close(fd)
        return True


def parse_fault_points(spec: str) -> dict[str, _Rule]:
    """``"a=kill-once,b=sleep=2@x"`` -> rules; ValueError names a bad entry."""
    rules: dict[str, _Rule] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        point, _, action = item.partition("=")
        action, _, only = action.partition("@")
        seconds = 0.0
        if action.startswith("sleep="):
            action, seconds = "sleep", float(action.split("=", 1)[1])
        if point not in POINTS or action not in ACTIONS:
            raise ValueError(f"bad fault point {item!r}: points {POINTS}, actions {ACTIONS}")
        rules[point] = _Rule(action, seconds, only)
    return rules


NO_FAULTS = FaultPoints()
