"""The decision index: one small summary of every stored decision, in Redis.

The documents in the store stay the source of truth; the index only lets ``pipeline
find``, ``status`` and ``requeue`` (and the metrics) answer without reading every
document. It lives in the Redis every pipeline process already shares, so it serves the
local store and S3 alike, and any number of machines (a SQLite file would be one
machine's). Keys (``<ns>`` = ``PIPELINE_NAMESPACE``, default ``pipeline``)::

    <ns>:index:docs             hash   receipt id -> summary JSON (below)
    <ns>:index:decided          zset   receipt id, scored by decided_at (epoch seconds)
    <ns>:index:status:<status>  zset   the same, per status (accepted|rejected|duplicate)
    <ns>:index:sha256           zset   "<sha256>:<receipt id>", all scored 0 (lexical range)
    <ns>:index:superseded_by    hash   old receipt id -> the receipt id that re-checked it
    <ns>:index:meta             hash   built_at, documents: set by a rebuild

The worker writes a decision's entry once it is stored (the ``package_decided`` actor,
from the stored document), an idempotent upsert by receipt id; in the same atomic step it
adds the decision's metrics (``pipeline.ops.metrics``) when the entry is new, so every
decision is counted exactly once whatever the redeliveries. ``rebuild`` re-reads every
document of the store (``pipeline index --rebuild``, and automatically when ``meta`` is
missing, e.g. a fresh Redis); it only adds and corrects entries, and drops the entries of
documents that are gone, so it is safe while workers run.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping

import redis

from pipeline.check.documents import STATUSES
from pipeline.check.privacy import redact

#: entries of about 0.5 KB: a million decisions take about 600 MB of Redis
SUMMARY_FIELDS = ("receipt_id", "status", "decided_at", "received_at", "institution", "report_date",
                  "name", "size", "sha256", "account", "source", "location", "error_codes", "errors",
                  "warnings", "duplicate_of", "supersedes")

# KEYS: docs, decided, status zset, sha zset, superseded hash, counters hash
# ARGV: receipt id, summary JSON, decided ts, sha member, supersedes ('' if none),
#       then (counter field, increment) pairs applied only when the entry is new
_RECORD = """
local new = redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[4], 0, ARGV[4])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[5], ARGV[5], ARGV[1]) end
if new == 1 then
  for i = 6, #ARGV, 2 do redis.call('HINCRBYFLOAT', KEYS[6], ARGV[i], ARGV[i + 1]) end
end
return new
"""


def decided_ts(document: Mapping[str, Any]) -> float:
    try:
        return datetime.fromisoformat(str(document.get("decided_at"))).timestamp()
    except ValueError:
        return 0.0


def _masked(text: Any) -> Any:
    return redact(text) if isinstance(text, str) else text


def summary(document: Mapping[str, Any], location: str) -> dict[str, Any]:
    """What the index keeps of a document stored at ``location``. The texts an uploader
    or the deployment chose (package name, institution, account, inbox location) are
    kept masked (pipeline/check/privacy.py): documents are built masked, but one stored
    before, read by a rebuild, may not be, and the index never holds a personal number."""
    package = document.get("package") or {}
    source = document.get("source") or {}
    return {
        "receipt_id": document["receipt_id"],
        "status": document["status"],
        "decided_at": document.get("decided_at"),
        "received_at": document.get("received_at"),
        "institution": _masked(document.get("institution")),
        "report_date": document.get("report_date"),
        "name": _masked(package.get("name")),
        "size": package.get("size"),
        "sha256": package.get("sha256"),
        "account": _masked(source.get("account", "")),
        "source": _masked(source.get("location", "")),
        "location": location,
        "error_codes": sorted({e["code"] for e in document.get("errors") or []}),
        "errors": len(document.get("errors") or []),
        "warnings": len(document.get("warnings") or []),
        "duplicate_of": document.get("duplicate_of"),
        "supersedes": document.get("supersedes"),
        # how the ZIP is held when not as a copy of its own (a duplicate), and when
        # retention removed it (pipeline/ops/retention.py)
        "stored_as": document.get("stored_as"),
        "package_removed_at": (document.get("package_removed") or {}).get("at"),
    }


class DecisionIndex:
    def __init__(self, client: redis.Redis, namespace: str = "pipeline") -> None:
        self.client = client
        self.namespace = namespace
        prefix = f"{namespace}:index:"
        self.docs_key = prefix + "docs"
        self.decided_key = prefix + "decided"
        self.sha_key = prefix + "sha256"
        self.superseded_key = prefix + "superseded_by"
        self.meta_key = prefix + "meta"
        self._status_prefix = prefix + "status:"
        self.counters_key = f"{namespace}:metrics"
        self._record = client.register_script(_RECORD)

    @classmethod
    def from_url(cls, url: str, namespace: str = "pipeline") -> "DecisionIndex":
        return cls(redis.Redis.from_url(url, decode_responses=True, health_check_interval=30), namespace)

    def status_key(self, status: str) -> str:
        return self._status_prefix + status

    # -- writing ---------------------------------------------------------------------------
    def record(self, document: Mapping[str, Any], location: str,
               count: Mapping[str, float] | None = None) -> bool:
        """Upsert the entry of ``document`` (stored at ``location``). True when it is new;
        then, and only then, the ``count`` increments are added to the metrics counters."""
        entry = summary(document, location)
        args: list[Any] = [entry["receipt_id"], json.dumps(entry, ensure_ascii=False), decided_ts(document),
                           f"{entry['sha256']}:{entry['receipt_id']}", entry["supersedes"] or ""]
        for field, amount in (count or {}).items():
            args += [field, amount]
        keys = [self.docs_key, self.decided_key, self.status_key(entry["status"]), self.sha_key,
                self.superseded_key, self.counters_key]
        return bool(self._record(keys=keys, args=args))

    def forget(self, receipt_ids: Iterable[str]) -> int:
        """Drop the entries of documents that are gone from the store."""
        dropped = 0
        for rid in receipt_ids:
            entry = self.get(rid)
            if entry is None:
                continue
            with self.client.pipeline() as pipe:
                pipe.hdel(self.docs_key, rid)
                pipe.zrem(self.decided_key, rid)
                for status in STATUSES:
                    pipe.zrem(self.status_key(status), rid)
                pipe.zrem(self.sha_key, f"{entry['sha256']}:{rid}")
                if entry.get("supersedes"):
                    pipe.hdel(self.superseded_key, entry["supersedes"])
                pipe.execute()
            dropped += 1
        return dropped

    def rebuild(self, documents: Iterable[tuple[str, dict[str, Any]]], *, grace_seconds: float = 300.0,
                clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> dict[str, Any]:
        """Re-read the store: upsert every ``(location, document)``, drop entries whose
        documents were not seen (unless decided within ``grace_seconds`` of the start: a
        worker may be storing it right now), then mark the index built."""
        started = time.time()
        seen: set[str] = set()
        for location, document in documents:
            self.record(document, location)
            seen.add(document["receipt_id"])
        stale = [rid for rid in self.client.zrangebyscore(self.decided_key, "-inf", started - grace_seconds)
                 if rid not in seen]
        dropped = self.forget(stale)
        stats = {"built_at": clock().isoformat(timespec="seconds"),
                 "documents": len(seen), "dropped": dropped, "seconds": round(time.time() - started, 3)}
        self.client.hset(self.meta_key, mapping={k: str(v) for k, v in stats.items()})
        return stats

    # -- reading ---------------------------------------------------------------------------
    def built(self) -> dict[str, Any] | None:
        """The last rebuild's facts, or None when the index was never built here."""
        meta: dict[str, Any] = self.client.hgetall(self.meta_key)
        if not meta:
            return None
        for key, kind in (("documents", int), ("dropped", int), ("seconds", float)):
            if key in meta:
                meta[key] = kind(meta[key])
        return meta

    def size(self) -> int:
        return int(self.client.hlen(self.docs_key))

    def _with_successor(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if entries:
            successors = self.client.hmget(self.superseded_key, [e["receipt_id"] for e in entries])
            for entry, successor in zip(entries, successors):
                entry["superseded_by"] = successor
        return entries

    def get(self, receipt_id: str) -> dict[str, Any] | None:
        found = self.get_many([receipt_id])
        return found[0] if found else None

    def get_many(self, receipt_ids: list[str]) -> list[dict[str, Any]]:
        """The entries of those receipt ids that are indexed, in the order asked."""
        if not receipt_ids:
            return []
        raws = self.client.hmget(self.docs_key, receipt_ids)
        return self._with_successor([json.loads(raw) for raw in raws if raw is not None])

    def by_sha256(self, prefix: str) -> list[dict[str, Any]]:
        """Entries whose package SHA-256 starts with ``prefix`` (lower-case hex)."""
        members = self.client.zrangebylex(self.sha_key, f"[{prefix}", f"[{prefix}\xff")
        return self._sorted(self.get_many([m.split(":", 1)[1] for m in members]))

    def search(self, fragment: str) -> list[dict[str, Any]]:
        """Entries whose receipt id, package name, institution, account or inbox location contains
        ``fragment`` (case-insensitive). A pass over the index in Redis (no document is read).
        The entries hold personal numbers masked, so a fragment holding one in full is
        looked for masked too (``张三610116198011113382`` finds ``张三610116********3382.zip``)."""
        needles = {fragment.casefold(), redact(fragment).casefold()}
        out = []
        for rid, raw in self.client.hscan_iter(self.docs_key, count=1000):
            entry = json.loads(raw)
            # the receipt id too: clerks quote a part of it ("J850JCEC", "R20261206-J850")
            haystack = "\0".join([rid, *(str(entry.get(k) or "") for k in ("name", "institution", "account", "source"))])
            if any(needle in haystack.casefold() for needle in needles):
                out.append(entry)
        return self._sorted(self._with_successor(out))

    def since(self, ts: float, status: str | None = None) -> list[dict[str, Any]]:
        """Entries decided at or after ``ts`` (epoch seconds), oldest first."""
        key = self.status_key(status) if status else self.decided_key
        return self.get_many(self.client.zrangebyscore(key, ts, "+inf"))

    def count_since(self, ts: float) -> dict[str, int]:
        """Decisions at or after ``ts`` by status."""
        with self.client.pipeline(transaction=False) as pipe:
            for status in STATUSES:
                pipe.zcount(self.status_key(status), ts, "+inf")
            counts = pipe.execute()
        return dict(zip(STATUSES, (int(c) for c in counts)))

    def counts(self) -> dict[str, int]:
        """Every indexed decision by status."""
        with self.client.pipeline(transaction=False) as pipe:
            for status in STATUSES:
                pipe.zcard(self.status_key(status))
            counts = pipe.execute()
        return dict(zip(STATUSES, (int(c) for c in counts)))

    @staticmethod
    def _sorted(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(entries, key=lambda e: (str(e.get("decided_at") or ""), e["receipt_id"]))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for _rid, raw in self.client.hscan_iter(self.docs_key, count=1000):
            yield json.loads(raw)
