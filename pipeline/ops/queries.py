"""The operator's view of a running pipeline: status, find, receipt, verify-archive,
requeue and the index rebuild. Each returns plain JSON-able data; the operator commands
(pipeline/app/ops_cli.py) print it (text or ``--json``). Everything reads the Redis and
the store the workers use (the store and ledger are the intake room's: the operator's view
is a view of them). The queue depths come from the worker room through :class:`BrokerView`.
Design and every output field: ``docs/operations.md``.

What the queries return is what the operator sees, so every personal number in it is
masked (pipeline/check/privacy.py): package names, inbox locations and accounts of
uploads waiting or being decided, and the paths of stored ZIPs (which keep the name they
were uploaded with: :meth:`Inventory.package_file` finds them). Receipt ids, digests and
decision locations are shown as they are.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone, tzinfo
from pathlib import Path
from typing import Any, Callable, Iterator

import redis
import structlog

from pipeline.check.documents import ACCEPTED, REJECTED, Source, new_receipt_id
from pipeline.check.privacy import redact, redact_whole
from pipeline.check.progress import ProgressLog
from pipeline.intake.ledger import RedisLedger
from pipeline.intake.store import REFERENCE, StoreError
from pipeline.intake.uploads import Claim, IngestRequest
from pipeline.ops import presence
from pipeline.catalogue.decisions import DecisionCatalogue, summary
from pipeline.check.documents import RECEIPT_ID
from pipeline.intake.inventory import Inventory, documents
from pipeline.ops.metrics import Counters
from pipeline.ops.retention import prune_quarantine

_HEX = re.compile(r"^[0-9a-fA-F]{12,64}$")


class OpsError(RuntimeError):
    """The command cannot run (no Redis, say); the message says why."""


@dataclass(frozen=True)
class BrokerView:
    """What the operator sees of the queues, read off the broker's own records by the
    worker room (workers/broker.py): the queue depths and the live broker clients."""

    queue_depths: Callable[[], dict[str, dict[str, int]]]
    live_clients: Callable[[], int]


def _iso(ts: datetime | None, zone: tzinfo | None = None) -> str | None:
    """``ts`` for people: in the pipeline's zone (``zone``) when given, so that one
    answer never mixes UTC and local times."""
    if ts is None:
        return None
    return (ts.astimezone(zone) if zone is not None else ts).isoformat(timespec="seconds")


def _shown(item: dict[str, Any] | None) -> Any:
    """``item`` as the operator sees it: personal numbers masked, identifiers kept."""
    return redact_whole(item) if item is not None else None


@dataclass
class Ops:
    """The operator's queries and actions on one pipeline (built by the composition root,
    pipeline/app/compose.py)."""

    #: None: Redis could not be reached (``redis_problem`` says why): what only Redis knows
    #: (queues, live workers, leases) is shown as unknown, and requeue refuses
    client: redis.Redis | None
    namespace: str
    store: Any
    inventory: Inventory
    #: the decisions in the catalogue database (pipeline/catalogue/decisions.py)
    catalogue: DecisionCatalogue
    ledger: RedisLedger | None
    counters: Counters
    broker: BrokerView
    zone: tzinfo
    #: "fs" or "s3": shown by status
    storage: str
    #: a re-check's claim is sent again after this (the watcher's recovery)
    requeue_after: float
    #: the watcher's stale-upload timeout (``PIPELINE_STALE_UPLOAD_TIMEOUT``): an upload
    #: under an in-progress name unchanged this long is shown by status as never finished.
    #: The default is the watcher's (folder_watch.STALE_UPLOAD_TIMEOUT), written out: that
    #: module is imported only where used, since it brings in watchdog.
    stale_upload_timeout: float = 1800.0
    redis_problem: str | None = None

    def now(self) -> datetime:
        return datetime.now(self.zone)

    # -- the catalogue's decisions -----------------------------------------------------------
    def rebuild_decisions(self, facts_of: Callable[[str, dict[str, Any]], Any] | None = None) -> dict[str, Any]:
        """Re-read every document of the store into the catalogue; ``facts_of(location,
        document)``: an accepted package's facts, read again from its ZIP (``pipeline
        catalogue rebuild``; pipeline/ops/catalogue_rebuild.py)."""
        log = structlog.get_logger()
        progress = ProgressLog("catalogue.progress", None, every=1000, seconds=10.0)

        def counted():
            for item in documents(self.inventory):
                progress.step()
                yield item

        stats = self.catalogue.rebuild(counted(), clock=self.now, facts_of=facts_of)
        log.info("catalogue.rebuilt", documents=stats["documents"], facts_written=stats["facts_written"],
                 dropped=stats["dropped"], seconds=stats["seconds"])
        return stats

    def ensure_catalogue(self) -> dict[str, Any] | None:
        """Fill the catalogue's decisions from the documents when it holds none (a new
        database beside an existing store). Returns the rebuild's facts, or None."""
        if self.catalogue.size() > 0:
            return None
        return self.rebuild_decisions()

    def _entry_from_store(self, receipt_id: str) -> dict[str, Any] | None:
        """The entry of a decision the catalogue misses (then recorded: it heals itself)."""
        location = self.inventory.locate(receipt_id)
        if location is None:
            return None
        document = self.inventory.read(location)
        self.catalogue.record(document, location)
        return self.catalogue.get(receipt_id) or summary(document, location)

    def _where(self, entry: dict[str, Any]) -> dict[str, Any]:
        """The entry with where its ZIP and document are, masked (the ZIP's path is shown
        with the masked name; no listing of the folder is needed for that)."""
        fake_doc = {"status": entry["status"]}
        return _shown({**entry, "zip": self._zip_shown(entry["location"], entry["name"], entry),
                       "document": self.inventory.document_ref(entry["location"], fake_doc)})

    def _zip_shown(self, location: str, name: str, facts: dict[str, Any]) -> str:
        """Where the ZIP of a decision is, for people: its path; the archived ZIP a
        duplicate held by reference names; or that retention removed it. ``facts``: the
        document or its index entry (``stored_as``, ``package_removed``/``_at``)."""
        removed_at = facts.get("package_removed_at") or (facts.get("package_removed") or {}).get("at")
        if removed_at:
            return f"(removed by retention at {removed_at}; the document stays)"
        stored_as = facts.get("stored_as") or {}
        if stored_as.get("held_as") == REFERENCE:
            ref_location, _, ref_name = str(stored_as.get("same_bytes_as") or "").rpartition("/")
            return f"{self.inventory.zip_ref(ref_location, ref_name)} (same bytes, held by reference)"
        return self.inventory.zip_ref(location, name)

    def package_file_of(self, location: str, name: str) -> str:
        """The stored ZIP's file name in the decision folder (see :meth:`_package_file`)."""
        return self._package_file(location, name)

    def _package_file(self, location: str, name: str) -> str:
        """The stored ZIP's own file name in the decision folder (the document's ``name``
        is masked); the document's name when the folder holds none (it is missing)."""
        return self.inventory.package_file(location, name) or name

    # -- status -----------------------------------------------------------------------------
    def _claims(self) -> list[dict[str, Any]]:
        out = []
        for claim in self.inventory.claims():
            out.append({"receipt_id": claim.receipt_id, "name": claim.package_name,
                        "source": claim.source.location, "account": claim.source.account,
                        "received_at": _iso(claim.received_at, self.zone), "supersedes": claim.supersedes,
                        "worker": self.ledger.lease_holder(claim.version) if self.ledger is not None else None})
        return out

    def _waiting(self) -> list[dict[str, Any]]:
        now = datetime.now(timezone.utc)
        return [{"location": w.location, "account": w.account, "size": w.size, "since": _iso(w.since, self.zone),
                 "age_s": round((now - w.since).total_seconds(), 1), "kind": w.kind, "files": w.files,
                 "taken_in_s": w.taken_in_s}
                for w in sorted(self.inventory.inbox(), key=lambda w: w.since)]

    def _skipped(self) -> list[dict[str, Any]]:
        now = time.time()
        return [{"relative": e.relative, "account": e.account, "kind": e.kind, "note": e.note,
                 "age_s": round(now - e.mtime, 1)}
                for e in self.inventory.skipped(self.stale_upload_timeout)]

    def gauges(self) -> dict[str, Any]:
        """What the metrics endpoint reads at each scrape."""
        waiting = self._waiting()
        self._need_redis()
        return {"queues": self.broker.queue_depths(),
                "inbox_waiting": len(waiting),
                "inbox_oldest_seconds": waiting[0]["age_s"] if waiting else 0.0,
                "in_progress": len(self.inventory.claims()),
                "workers_alive": len(presence.alive(self.client, self.namespace))}

    def _need_redis(self) -> redis.Redis:
        if self.client is None:
            raise OpsError(self.redis_problem or "Redis cannot be reached")
        return self.client

    def status(self) -> dict[str, Any]:
        rebuilt = self.ensure_catalogue()
        now = time.time()
        waiting = self._waiting()
        claims = self._claims()
        up = self.client is not None
        workers = presence.alive(self.client, self.namespace, now) if up else []
        return {
            "at": self.now().isoformat(timespec="seconds"),
            "storage": self.storage,
            # None: Redis is down, so the queues and the live workers are not known
            "redis": {"reachable": up, "problem": self.redis_problem},
            "queues": self.broker.queue_depths() if up else None,
            "inbox": {"waiting": len(waiting), "oldest": _shown(waiting[0] if waiting else None),
                      "uploads": [_shown(w) for w in waiting if w["kind"] != "file"],
                      "skipped": [_shown(e) for e in self._skipped()]},
            "in_progress": {"count": len(claims), "packages": [_shown(c) for c in claims]},
            "decided": {"last_hour": self.catalogue.count_since(now - 3600),
                        "last_day": self.catalogue.count_since(now - 86400),
                        "all": self.catalogue.counts()},
            "workers": {"alive": len(workers) if up else None, "processes": workers,
                        "broker_clients": self.broker.live_clients() if up else None},
            "catalogue": {"decisions": self.catalogue.size(), "last_rebuild": self.catalogue.built(),
                          "rebuilt_now": rebuilt is not None},
        }

    # -- find / receipt ---------------------------------------------------------------------
    def find(self, query: str) -> dict[str, Any]:
        self.ensure_catalogue()
        q = query.strip()
        kind, entries = "fragment", []
        if RECEIPT_ID.match(q.upper()):
            kind, q = "receipt_id", q.upper()
            entry = self.catalogue.get(q) or self._entry_from_store(q)
            entries = [entry] if entry else []
        elif _HEX.match(q):
            kind, entries = "sha256", self.catalogue.by_sha256(q.lower())
            if not entries and len(q) < 64:
                kind, entries = "fragment", self.catalogue.search(q)
        elif q:
            entries = self.catalogue.search(q)
        needle = q.casefold()

        def matches(*values: Any) -> bool:
            if kind == "receipt_id":
                return q in values
            return kind == "fragment" and bool(needle) and any(needle in str(v or "").casefold() for v in values)

        claims = [c for c in self._claims() if matches(c["receipt_id"], c["name"], c["source"], c["account"])]
        waiting = [w for w in self._waiting() if matches(w["location"], w["account"])] if kind == "fragment" else []
        return {"query": redact(query), "kind": kind, "decisions": [self._where(e) for e in entries],
                "in_progress": [_shown(c) for c in claims], "waiting": [_shown(w) for w in waiting]}

    def undecided(self, account: str | None = None) -> list[dict[str, Any]]:
        """The uploads (of ``account``; None: everyone's) not decided yet, oldest first: those
        being checked (claimed) and those waiting in the inbox. Read from the store alone,
        so it works with Redis down. Personal numbers in names are masked."""
        checking = [{"state": "checking", "name": c["name"], "account": c["account"], "since": c["received_at"],
                     "receipt_id": c["receipt_id"]} for c in self._claims()]
        waiting = [{"state": "waiting", "name": w["location"].rsplit("/", 1)[-1], "account": w["account"],
                    "since": w["since"], "receipt_id": None} for w in self._waiting()]
        rows = [r for r in checking + waiting if account is None or r["account"] == account]
        return [_shown(r) for r in sorted(rows, key=lambda r: str(r["since"] or ""))]

    def receipt(self, receipt_id: str) -> dict[str, Any] | None:
        """The document of a receipt id with where it lies, or None."""
        receipt_id = receipt_id.strip().upper()
        entry = self.catalogue.get(receipt_id)
        location = entry["location"] if entry else self.inventory.locate(receipt_id)
        if location is None:
            return None
        try:
            document = self.inventory.read(location)
        except StoreError:
            return None
        name = self._package_file(location, document["package"]["name"])
        return {"location": location, "document": _shown(document),
                "zip": redact(self._zip_shown(location, name, document)),
                "document_path": self.inventory.document_ref(location, document),
                "superseded_by": self.catalogue.superseded_by(receipt_id)}

    # -- verify-archive ---------------------------------------------------------------------
    def verify_archive(self, sample: int | None = None, areas: tuple[str, ...] = ("archive",)) -> dict[str, Any]:
        """Re-hash stored ZIPs against their documents' ``package.sha256`` and size."""
        locations = [loc for area in areas for loc in self.inventory.locations(area)]
        total = len(locations)
        if sample is not None and sample < total:
            locations = sorted(random.sample(locations, sample))
        progress = ProgressLog("verify.progress", len(locations))
        problems: list[dict[str, Any]] = []
        removed = 0
        for location in locations:
            try:
                document = self.inventory.read(location)
            except (StoreError, OSError, ValueError) as exc:
                problems.append({"location": location, "problem": "unreadable_document", "detail": redact(str(exc))})
                progress.step()
                continue
            package = document["package"]
            if document.get("package_removed"):  # retention removed it on purpose
                removed += 1
                progress.step()
                continue
            zip_location, name, broken = self._bytes_of(location, document)
            found = self.inventory.hash_zip(zip_location, name) if broken is None else None
            base = {"receipt_id": document["receipt_id"], "location": location,
                    "zip": redact(self.inventory.zip_ref(zip_location, name)),
                    "expected_sha256": package["sha256"], "expected_size": package["size"]}
            if broken is not None or (found is None and zip_location != location):
                problems.append({**base, "problem": "broken_reference",
                                 "detail": broken or "the archived ZIP it names is missing"})
            elif found is None:
                problems.append({**base, "problem": "missing"})
            elif found != (package["size"], package["sha256"]):
                problems.append({**base, "problem": "mismatch", "actual_size": found[0], "actual_sha256": found[1]})
            progress.step()
        for p in problems:
            structlog.get_logger().error("verify.mismatch", problem=p["problem"], location=p["location"],
                                         receipt_id=p.get("receipt_id"), zip=p.get("zip"),
                                         expected_sha256=p.get("expected_sha256"),
                                         actual_sha256=p.get("actual_sha256"), detail=p.get("detail"))
        return {"areas": list(areas), "stored": total, "checked": len(locations) - removed,
                "ok": len(locations) - removed - len(problems), "removed_by_retention": removed,
                "problems": problems}

    def _bytes_of(self, location: str, document: dict[str, Any]) -> tuple[str, str, str | None]:
        """(location, file name) of the ZIP holding a decision's bytes, and what is wrong
        with its reference (None: nothing). A duplicate held by reference
        (``stored_as.held_as`` = ``reference``) has them in the archived ZIP of the
        receipt it duplicates; that must be the ZIP it names."""
        stored_as = document.get("stored_as") or {}
        if stored_as.get("held_as") != REFERENCE:
            return location, self._package_file(location, document["package"]["name"]), None
        ref_location, _, ref_name = str(stored_as.get("same_bytes_as") or "").rpartition("/")
        original = document.get("duplicate_of")
        expected = self.inventory.locate(original) if isinstance(original, str) and RECEIPT_ID.match(original) else None
        try:
            accepted = self.inventory.read(ref_location) if ref_location and ref_location == expected else {}
        except (StoreError, OSError, ValueError):
            accepted = {}
        if accepted.get("status") != ACCEPTED or accepted.get("receipt_id") != original:
            return ref_location or location, ref_name, (
                f"names {stored_as.get('same_bytes_as')!r}, which is not the stored acceptance {original}")
        return ref_location, self._package_file(ref_location, ref_name), None

    # -- retention --------------------------------------------------------------------------
    def prune_quarantine(self, older_than_days: float, *, dry_run: bool) -> dict[str, Any]:
        """``pipeline prune-quarantine``: pipeline/ops/retention.py."""
        return prune_quarantine(inventory=self.inventory, store=self.store, catalogue=self.catalogue, now=self.now,
                                older_than_days=older_than_days, dry_run=dry_run)

    # -- requeue ----------------------------------------------------------------------------
    def _requeue_key(self, receipt_id: str) -> str:
        return f"{self.namespace}:requeue:{receipt_id}"

    def requeue_record(self, receipt_id: str) -> dict[str, Any] | None:
        raw = self.client.get(self._requeue_key(receipt_id))
        return json.loads(raw) if raw else None

    def _mint(self) -> str:
        while True:
            receipt_id = new_receipt_id(self.now())
            if self.ledger.reserve_receipt_id(receipt_id):
                return receipt_id

    def requeue_selection(self, receipt_ids: list[str], since: date | None,
                          codes: list[str]) -> list[tuple[str, dict[str, Any] | None]]:
        """(receipt id, its index entry or None) of what to re-check: the ids given, else
        the rejected decisions since ``since`` carrying any of ``codes`` (either may be
        absent) that were not re-checked already and are no re-checks themselves (so the
        same selection run twice re-checks nothing more; name a re-check's id to re-check
        it again)."""
        self.ensure_catalogue()
        if receipt_ids:
            out = []
            for rid in receipt_ids:
                rid = rid.strip().upper()
                out.append((rid, self.catalogue.get(rid) or self._entry_from_store(rid)))
            return out
        ts = 0.0
        if since is not None:
            ts = datetime.combine(since, datetime.min.time(), self.zone).timestamp()
        wanted = set(codes)
        return [(e["receipt_id"], e) for e in self.catalogue.since(ts, REJECTED)
                if (not wanted or wanted & set(e["error_codes"])) and not e.get("superseded_by")
                and not e.get("supersedes") and self.requeue_record(e["receipt_id"]) is None]

    def requeue(self, selection: list[tuple[str, dict[str, Any] | None]], *, send: Callable[[dict[str, Any]], None],
                wait_seconds: float = 0.0) -> list[dict[str, Any]]:
        """Re-check each selected rejected decision under the workers' current policy: a
        new claim holding a copy of its ZIP, with a new receipt id and ``supersedes``, sent
        to the workers. The old folder and document stay untouched. Idempotent: the new
        receipt id is recorded set-if-absent under ``<ns>:requeue:<old id>``, so a repeat
        (or a run interrupted anywhere) makes no second new decision."""
        log = structlog.get_logger()
        results: list[dict[str, Any]] = []
        for rid, entry in self._requeueable(selection, results):
            record = self.requeue_record(rid)
            if record is None:
                candidate = {"receipt_id": self._mint(), "requested_at": self.now().isoformat(timespec="seconds")}
                self.client.set(self._requeue_key(rid), json.dumps(candidate), nx=True)
                record = self.requeue_record(rid) or candidate
                fresh = record["receipt_id"] == candidate["receipt_id"]
            else:
                fresh = False
            new_rid = record["receipt_id"]
            base = {"receipt_id": rid, "old_status": entry["status"], "old_error_codes": entry["error_codes"],
                    "new_receipt_id": new_rid}
            decided = self.catalogue.get(new_rid) or self._entry_from_store(new_rid)
            if decided is not None:
                results.append({**base, "action": "already_decided", "new_status": decided["status"],
                                "new_error_codes": decided["error_codes"]})
                continue
            document = self.inventory.read(entry["location"])
            name = self._package_file(entry["location"], document["package"]["name"])

            def claim_for(request: IngestRequest, document: dict[str, Any] = document, new_rid: str = new_rid,
                          old: str = rid, name: str = name) -> Claim:
                return Claim(request=request, receipt_id=new_rid, source=Source.from_json(document["source"]),
                             package_name=name, received_at=datetime.fromisoformat(document["received_at"]),
                             supersedes=old)

            claim = self.store.claim_stored(entry["location"], name, document["package"]["sha256"], rid, claim_for)
            send(claim.request.to_json())
            self.ledger.mark_enqueued(claim.version, time.time(), self.requeue_after)
            log.info("requeue.queued", receipt_id=rid, new_receipt_id=new_rid, version=claim.version,
                     again=not fresh)
            results.append({**base, "action": "queued" if fresh else "queued_again"})
        if wait_seconds > 0:
            self._wait_for(results, wait_seconds)
        return results

    def _requeueable(self, selection: list[tuple[str, dict[str, Any] | None]],
                     results: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
        """The selected decisions that can be re-checked; each one that cannot gets its
        result (not found, skipped) in ``results`` instead."""
        for rid, entry in selection:
            refused = self._requeue_check(rid, entry)
            if refused is not None:
                results.append(refused)
            elif entry is not None:
                yield rid, entry

    def _requeue_check(self, rid: str, entry: dict[str, Any] | None) -> dict[str, Any] | None:
        """A result that ends the re-check of ``rid`` before it starts, or None."""
        if not RECEIPT_ID.match(rid):
            return {"receipt_id": rid, "action": "not_found", "reason": "not a receipt id"}
        if entry is None:
            return {"receipt_id": rid, "action": "not_found", "reason": "no stored decision has this receipt id"}
        if entry["status"] != REJECTED:
            return {"receipt_id": rid, "action": "skipped", "old_status": entry["status"],
                    "reason": f"only rejected decisions are re-checked; this one is {entry['status']}"}
        return None

    def _wait_for(self, results: list[dict[str, Any]], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        pending = [r for r in results if r.get("action") in ("queued", "queued_again")]
        while pending and time.monotonic() < deadline:
            for r in list(pending):
                entry = self.catalogue.get(r["new_receipt_id"])
                if entry is not None:
                    r.update(action="decided", new_status=entry["status"], new_error_codes=entry["error_codes"],
                             new_location=entry["location"])
                    pending.remove(r)
            if pending:
                time.sleep(0.2)

    def requeue_dry_run(self, selection: list[tuple[str, dict[str, Any] | None]], *, policy: Any,
                        today: date | None = None) -> list[dict[str, Any]]:
        """What a re-check would decide now, assessed in a scratch folder with ``policy``;
        nothing is stored, minted, recorded or sent."""
        from pipeline.check.assess import assess

        today = today or self.now().date()
        results: list[dict[str, Any]] = []
        for rid, entry in self._requeueable(selection, results):
            base = {"receipt_id": rid, "old_status": entry["status"], "old_error_codes": entry["error_codes"]}
            record = self.requeue_record(rid)
            if record is not None:
                results.append({**base, "action": "already_requeued", "new_receipt_id": record["receipt_id"]})
                continue
            scratch = Path(tempfile.mkdtemp(prefix="pipeline-requeue-"))
            try:
                name = self._package_file(entry["location"], entry["name"])
                zip_path = self.inventory.local_zip(entry["location"], name, scratch / "download")
                findings = assess(zip_path, name, policy, scratch / "package", today)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            if findings.errors:
                status = REJECTED
            else:
                status = "duplicate" if self.ledger.acceptance(findings.package_sha256) else "accepted"
            results.append({**base, "action": "dry_run", "new_status": status,
                            "new_error_codes": sorted({p.code for p in findings.errors}),
                            "new_warning_codes": sorted({p.code for p in findings.warnings}),
                            "changes": status != entry["status"]
                            or sorted({p.code for p in findings.errors}) != entry["error_codes"]})
        return results
