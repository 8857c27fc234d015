"""The ledger: the small shared records that make every step safe to run twice.

All records are set-if-absent, so the first writer wins and every later run reads what
the first one decided:

- ``enq:<version>``      when an inbox file version was last enqueued (watcher dedupe)
- ``rid:<receipt id>``   a minted receipt id, so two packages never share one
- ``lease:<version>``    which worker is processing a claimed package right now (expires)
- ``decision:<version>`` the final document of a package version: the first is final
- ``accepted:<sha256>``  the receipt that first accepted these bytes (duplicate detection)
- ``accepted-sizes``     (a set) the byte sizes of accepted packages: an upload of another
  size cannot be a duplicate, so only one of a size found here is hashed before its
  checks, to be decided ``duplicate`` at once (pipeline/intake/deciding.py)
- ``epoch``              the id of this Redis's data, set once duplicate detection was
  restored from the archive (pipeline/ops/recovery.py); while it is missing (a fresh or
  emptied Redis) no acceptance is recorded, so bytes accepted before are never accepted
  again
- ``claims`` (a hash, field ``<version>``) the claim of a package being decided, for a
  store whose packages stay where they were uploaded (S3: the claim JSON, first wins;
  dropped once the package is stored)

:class:`RedisLedger` is what workers on several machines share; :class:`MemoryLedger`
serves ``pipeline check`` and tests of single steps. The documents in the store remain the
source of truth; the ledger only arbitrates who decides.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Protocol

import redis

DECISION_TTL_SECONDS = 90 * 24 * 3600  # long after the move; the store keeps the document
ENQUEUE_TTL_SECONDS = 7 * 24 * 3600


class Ledger(Protocol):
    def mark_enqueued(self, version: str, now: float, requeue_after: float) -> bool:
        """True if this version should be (re-)enqueued now: never enqueued, or last
        enqueued more than ``requeue_after`` seconds ago. Records ``now`` if True."""
    def last_enqueued(self, version: str) -> float | None: ...
    def reserve_receipt_id(self, receipt_id: str) -> bool: ...
    def acquire_lease(self, version: str, holder: str, seconds: int) -> bool: ...
    def renew_lease(self, version: str, holder: str, seconds: int) -> bool: ...
    def release_lease(self, version: str, holder: str) -> None: ...
    def lease_holder(self, version: str) -> str | None: ...
    def record_decision(self, version: str, document: dict[str, Any]) -> dict[str, Any]:
        """Store ``document`` unless a decision exists; return the one that stands."""
    def decision(self, version: str) -> dict[str, Any] | None: ...
    def first_acceptance(self, sha256: str, receipt_id: str, size: int | None = None) -> str | None:
        """Record ``receipt_id`` as the acceptance of ``sha256`` unless one exists;
        return the receipt id that stands. None while the acceptances are not restored
        (no epoch: ask again later). ``size`` (the package's bytes) is added to the
        accepted sizes either way."""
    def accepted_size(self, size: int) -> bool:
        """Whether a package of exactly ``size`` bytes was accepted (False while the
        acceptances are not restored): only then can an upload be a duplicate worth
        hashing before its checks."""
    def known_acceptance(self, sha256: str) -> str | None:
        """The receipt that accepted these bytes, read only; None if none, or while the
        acceptances are not restored."""
    def record_claim(self, version: str, claim: dict[str, Any]) -> dict[str, Any]:
        """Store ``claim`` unless a claim of ``version`` exists; return the one that stands."""
    def claim_record(self, version: str) -> dict[str, Any] | None: ...
    def drop_claim(self, version: str) -> None: ...
    def claim_records(self) -> dict[str, dict[str, Any]]:
        """Every claim record: version -> claim."""
    def record_packing(self, target: str, record: dict[str, Any]) -> dict[str, Any]:
        """S3 packings (pipeline/intake/bucket_uploads.py): store ``record`` unless a
        packing into the inbox key ``target`` is recorded; return the one that stands."""
    def packing_records(self) -> dict[str, dict[str, Any]]:
        """Every packing record: target key -> record."""
    def drop_packing(self, target: str) -> None: ...


_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('expire', KEYS[1], ARGV[2])
end
return 0
"""
_FIRST_ACCEPTANCE = """
if redis.call('exists', KEYS[2]) == 0 then return false end
if ARGV[2] ~= '' then redis.call('sadd', KEYS[3], ARGV[2]) end
if redis.call('set', KEYS[1], ARGV[1], 'NX') then return ARGV[1] end
return redis.call('get', KEYS[1])
"""
_KNOWN_ACCEPTANCE = """
if redis.call('exists', KEYS[2]) == 0 then return false end
return redis.call('get', KEYS[1])
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class RedisLedger:
    def __init__(self, client: redis.Redis, namespace: str = "pipeline") -> None:
        self.client = client
        self.prefix = f"{namespace}:"
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._first_acceptance = client.register_script(_FIRST_ACCEPTANCE)
        self._known_acceptance = client.register_script(_KNOWN_ACCEPTANCE)

    @classmethod
    def from_url(cls, url: str, namespace: str = "pipeline") -> "RedisLedger":
        return cls(redis.Redis.from_url(url, decode_responses=True, health_check_interval=30), namespace)

    def _k(self, kind: str, key: str) -> str:
        return f"{self.prefix}{kind}:{key}"

    def mark_enqueued(self, version: str, now: float, requeue_after: float) -> bool:
        key = self._k("enq", version)
        if self.client.set(key, repr(now), nx=True, ex=ENQUEUE_TTL_SECONDS):
            return True
        last = self.last_enqueued(version)
        if last is not None and now - last < requeue_after:
            return False
        # Compare-and-set so two watchers re-enqueueing at once send one message.
        with self.client.pipeline() as pipe:
            try:
                pipe.watch(key)
                current = pipe.get(key)
                if current is not None and now - float(current) < requeue_after:
                    return False
                pipe.multi()
                pipe.set(key, repr(now), ex=ENQUEUE_TTL_SECONDS)
                pipe.execute()
                return True
            except redis.WatchError:
                return False

    def last_enqueued(self, version: str) -> float | None:
        value = self.client.get(self._k("enq", version))
        return float(value) if value is not None else None

    def reserve_receipt_id(self, receipt_id: str) -> bool:
        return bool(self.client.set(self._k("rid", receipt_id), "1", nx=True, ex=3 * 24 * 3600))

    def acquire_lease(self, version: str, holder: str, seconds: int) -> bool:
        key = self._k("lease", version)
        if self.client.set(key, holder, nx=True, ex=seconds):
            return True
        return self.client.get(key) == holder

    def renew_lease(self, version: str, holder: str, seconds: int) -> bool:
        return bool(self._renew(keys=[self._k("lease", version)], args=[holder, seconds]))

    def release_lease(self, version: str, holder: str) -> None:
        self._release(keys=[self._k("lease", version)], args=[holder])

    def lease_holder(self, version: str) -> str | None:
        return self.client.get(self._k("lease", version))

    def record_decision(self, version: str, document: dict[str, Any]) -> dict[str, Any]:
        key = self._k("decision", version)
        if self.client.set(key, json.dumps(document, ensure_ascii=False), nx=True, ex=DECISION_TTL_SECONDS):
            return document
        existing = self.decision(version)
        return existing if existing is not None else document

    def decision(self, version: str) -> dict[str, Any] | None:
        raw = self.client.get(self._k("decision", version))
        return json.loads(raw) if raw is not None else None

    @property
    def epoch_key(self) -> str:
        return f"{self.prefix}epoch"

    def epoch(self) -> str | None:
        return self.client.get(self.epoch_key)

    def set_epoch(self, epoch: str) -> None:
        self.client.set(self.epoch_key, epoch)

    @property
    def sizes_key(self) -> str:
        return f"{self.prefix}accepted-sizes"

    def first_acceptance(self, sha256: str, receipt_id: str, size: int | None = None) -> str | None:
        result = self._first_acceptance(keys=[self._k("accepted", sha256), self.epoch_key, self.sizes_key],
                                        args=[receipt_id, "" if size is None else str(size)])
        return str(result) if result is not None else None

    def restore_acceptance(self, sha256: str, receipt_id: str, size: int | None = None) -> None:
        """Record an acceptance found in the archive (earliest first), unless one stands,
        and its size among the accepted sizes."""
        self.client.set(self._k("accepted", sha256), receipt_id, nx=True)
        if size is not None:
            self.client.sadd(self.sizes_key, str(size))

    def accepted_size(self, size: int) -> bool:
        with self.client.pipeline(transaction=False) as pipe:
            pipe.exists(self.epoch_key)
            pipe.sismember(self.sizes_key, str(size))
            has_epoch, member = pipe.execute()
        return bool(has_epoch) and bool(member)

    def known_acceptance(self, sha256: str) -> str | None:
        result = self._known_acceptance(keys=[self._k("accepted", sha256), self.epoch_key])
        return str(result) if result is not None else None

    def acceptance(self, sha256: str) -> str | None:
        """The receipt that accepted these bytes, if any (read only: ``requeue --dry-run``)."""
        return self.client.get(self._k("accepted", sha256))

    # Claim records live in one hash: HSETNX is set-if-absent per version, and the
    # pending ones are listed without scanning the key space.
    @property
    def _claims_key(self) -> str:
        return f"{self.prefix}claims"

    def record_claim(self, version: str, claim: dict[str, Any]) -> dict[str, Any]:
        if self.client.hsetnx(self._claims_key, version, json.dumps(claim, ensure_ascii=False)):
            return claim
        existing = self.claim_record(version)
        return existing if existing is not None else claim

    def claim_record(self, version: str) -> dict[str, Any] | None:
        raw = self.client.hget(self._claims_key, version)
        return json.loads(raw) if raw is not None else None

    def drop_claim(self, version: str) -> None:
        self.client.hdel(self._claims_key, version)

    def claim_records(self) -> dict[str, dict[str, Any]]:
        return {version: json.loads(raw) for version, raw in self.client.hscan_iter(self._claims_key)}

    # The bucket packer's records (pipeline/intake/bucket_uploads.py), one hash like the claims.
    @property
    def _packings_key(self) -> str:
        return f"{self.prefix}packings"

    def record_packing(self, target: str, record: dict[str, Any]) -> dict[str, Any]:
        if self.client.hsetnx(self._packings_key, target, json.dumps(record, ensure_ascii=False)):
            return record
        raw = self.client.hget(self._packings_key, target)
        return json.loads(raw) if raw is not None else record

    def packing_records(self) -> dict[str, dict[str, Any]]:
        return {target: json.loads(raw) for target, raw in self.client.hscan_iter(self._packings_key)}

    def drop_packing(self, target: str) -> None:
        self.client.hdel(self._packings_key, target)


class MemoryLedger:
    """The same records in one process's memory (``pipeline check``, unit tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, Any] = {}
        self._expiry: dict[str, float] = {}

    def _get(self, key: str) -> Any:
        if key in self._expiry and self._expiry[key] < time.monotonic():
            self._data.pop(key, None)
            self._expiry.pop(key, None)
        return self._data.get(key)

    def _setnx(self, key: str, value: Any, ttl: float | None = None) -> bool:
        with self._lock:
            if self._get(key) is not None:
                return False
            self._data[key] = value
            if ttl:
                self._expiry[key] = time.monotonic() + ttl
            return True

    def mark_enqueued(self, version: str, now: float, requeue_after: float) -> bool:
        with self._lock:
            last = self._get(f"enq:{version}")
            if last is not None and now - last < requeue_after:
                return False
            self._data[f"enq:{version}"] = now
            return True

    def last_enqueued(self, version: str) -> float | None:
        return self._get(f"enq:{version}")

    def reserve_receipt_id(self, receipt_id: str) -> bool:
        return self._setnx(f"rid:{receipt_id}", True)

    def acquire_lease(self, version: str, holder: str, seconds: int) -> bool:
        return self._setnx(f"lease:{version}", holder, seconds) or self._get(f"lease:{version}") == holder

    def renew_lease(self, version: str, holder: str, seconds: int) -> bool:
        with self._lock:
            if self._get(f"lease:{version}") != holder:
                return False
            self._expiry[f"lease:{version}"] = time.monotonic() + seconds
            return True

    def release_lease(self, version: str, holder: str) -> None:
        with self._lock:
            if self._get(f"lease:{version}") == holder:
                self._data.pop(f"lease:{version}", None)

    def lease_holder(self, version: str) -> str | None:
        return self._get(f"lease:{version}")

    def record_decision(self, version: str, document: dict[str, Any]) -> dict[str, Any]:
        self._setnx(f"decision:{version}", document)
        return self._get(f"decision:{version}")

    def decision(self, version: str) -> dict[str, Any] | None:
        return self._get(f"decision:{version}")

    def first_acceptance(self, sha256: str, receipt_id: str, size: int | None = None) -> str | None:
        if size is not None:
            with self._lock:
                self._data.setdefault("accepted-sizes", set()).add(size)
        self._setnx(f"accepted:{sha256}", receipt_id)
        return self._get(f"accepted:{sha256}")

    def accepted_size(self, size: int) -> bool:
        with self._lock:
            return size in self._data.get("accepted-sizes", set())

    def known_acceptance(self, sha256: str) -> str | None:
        return self._get(f"accepted:{sha256}")

    def acceptance(self, sha256: str) -> str | None:
        return self._get(f"accepted:{sha256}")

    def record_claim(self, version: str, claim: dict[str, Any]) -> dict[str, Any]:
        self._setnx(f"claim:{version}", json.loads(json.dumps(claim)))
        return json.loads(json.dumps(self._get(f"claim:{version}")))

    def claim_record(self, version: str) -> dict[str, Any] | None:
        value = self._get(f"claim:{version}")
        return json.loads(json.dumps(value)) if value is not None else None

    def drop_claim(self, version: str) -> None:
        with self._lock:
            self._data.pop(f"claim:{version}", None)

    def claim_records(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            items = [(k, v) for k, v in self._data.items() if k.startswith("claim:")]
        return {k[len("claim:"):]: json.loads(json.dumps(v)) for k, v in items}

    def record_packing(self, target: str, record: dict[str, Any]) -> dict[str, Any]:
        self._setnx(f"packing:{target}", json.loads(json.dumps(record)))
        return json.loads(json.dumps(self._get(f"packing:{target}")))

    def packing_records(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            items = [(k, v) for k, v in self._data.items() if k.startswith("packing:")]
        return {k[len("packing:"):]: json.loads(json.dumps(v)) for k, v in items}

    def drop_packing(self, target: str) -> None:
        with self._lock:
            self._data.pop(f"packing:{target}", None)
