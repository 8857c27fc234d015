"""The send record of each receipt in Redis (``<namespace>:mail:<receipt id>``): who
holds the send and how it ended. The state machine is described in
pipeline/notify/mailer.py; the transitions are Lua scripts, so two attempts can never
both pass a check and both send."""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

import redis

#: seconds a claim protects an attempt before DATA (connect+TLS+AUTH+MAIL+RCPT, each
#: bounded by the SMTP time-out); after that another attempt may take the send over
CLAIM_SECONDS = 300
#: how long send records are kept (as long as the ledger keeps decisions)
RECORD_TTL_SECONDS = 90 * 24 * 3600


_CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local raw = redis.call('GET', KEYS[1])
local attempts, previous, last_error = 0, '', ''
if raw then
  local rec = cjson.decode(raw)
  local st = rec['state']
  if st == 'sent' or st == 'unknown' or st == 'rejected' then return {st, raw} end
  if st == 'data' and ARGV[4] ~= '1' then
    if rec['expires'] > now then return {'busy', raw} end
    rec['state'] = 'unknown'
    rec['error'] = 'the attempt stopped after the DATA command; delivery is unknown'
    rec['at'] = now
    local out = cjson.encode(rec)
    redis.call('SET', KEYS[1], out, 'EX', ARGV[3])
    return {'unknown_now', out}
  end
  if (st == 'claimed' or st == 'data') and rec['expires'] > now and rec['holder'] ~= ARGV[1] then
    return {'busy', raw}
  end
  attempts = tonumber(rec['attempts'] or 0)
  previous = st
  last_error = rec['error'] or ''
end
local out = cjson.encode({state = 'claimed', holder = ARGV[1], expires = now + tonumber(ARGV[2]), at = now,
                          attempts = attempts + 1, previous = previous, error = last_error})
redis.call('SET', KEYS[1], out, 'EX', ARGV[3])
return {'claimed', out}
"""

_ADVANCE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local raw = redis.call('GET', KEYS[1])
if not raw then return 'missing' end
local rec = cjson.decode(raw)
if rec['holder'] ~= ARGV[1] or not string.find(',' .. ARGV[2] .. ',', ',' .. rec['state'] .. ',', 1, true) then
  return rec['state']
end
rec['state'] = ARGV[3]
rec['at'] = now
for k, v in pairs(cjson.decode(ARGV[4])) do rec[k] = v end
if tonumber(ARGV[5]) > 0 then rec['expires'] = now + tonumber(ARGV[5]) end
redis.call('SET', KEYS[1], cjson.encode(rec), 'EX', ARGV[6])
return 'ok'
"""


class SendRecords:
    """One record per receipt id in Redis: who holds the send, and how it ended."""

    def __init__(self, client: redis.Redis, namespace: str = "pipeline", ttl: int = RECORD_TTL_SECONDS) -> None:
        self.client = client
        self.prefix = f"{namespace}:mail:"
        self.ttl = ttl
        self._claim = client.register_script(_CLAIM)
        self._advance = client.register_script(_ADVANCE)

    @classmethod
    def from_url(cls, url: str, namespace: str = "pipeline") -> "SendRecords":
        return cls(redis.Redis.from_url(url, decode_responses=True, health_check_interval=30), namespace)

    def key(self, receipt_id: str) -> str:
        return f"{self.prefix}{receipt_id}"

    def claim(self, receipt_id: str, holder: str, seconds: int = CLAIM_SECONDS,
              idempotent: bool = False) -> tuple[str, dict[str, Any]]:
        """('claimed' | 'busy' | 'unknown_now' | a final state, the record)."""
        state, raw = self._claim(keys=[self.key(receipt_id)],
                                 args=[holder, seconds, self.ttl, "1" if idempotent else "0"])
        return str(state), json.loads(raw)

    def advance(self, receipt_id: str, holder: str, from_states: tuple[str, ...], to_state: str, *,
                expires_in: int = 0, **extra: Any) -> bool:
        """Move the record held by ``holder`` from one of ``from_states`` to ``to_state``."""
        result = self._advance(keys=[self.key(receipt_id)],
                               args=[holder, ",".join(from_states), to_state,
                                     json.dumps(extra, ensure_ascii=False) if extra else "{}", expires_in, self.ttl])
        return result == "ok"

    def get(self, receipt_id: str) -> dict[str, Any] | None:
        raw = self.client.get(self.key(receipt_id))
        return json.loads(raw) if raw is not None else None


class Journal(Protocol):
    """The store's journal (pipeline/intake/store.py), as the mailer uses it."""

    def put_record(self, name: str, data: bytes) -> None: ...
    def get_record(self, name: str) -> Any: ...  # a JournalRecord (``.data``) or None


class JournalledStates:
    """The durable copy of the states that decide "never twice": ``data`` (an attempt
    reached the SMTP DATA command) and the final ones, kept in the store's journal as
    ``mail/<receipt id>.json``. Redis arbitrates concurrent attempts; this survives a
    loss of Redis's data, after which a send whose journal says ``data`` is unknown (never
    resent) and one that says final is done."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    @staticmethod
    def name(receipt_id: str) -> str:
        return f"mail/{receipt_id}.json"

    def write(self, receipt_id: str, state: str, **extra: Any) -> None:
        record = {"state": state, "at": time.time(), **extra}
        self.journal.put_record(self.name(receipt_id), json.dumps(record, ensure_ascii=False).encode("utf-8"))

    def read(self, receipt_id: str) -> dict[str, Any] | None:
        record = self.journal.get_record(self.name(receipt_id))
        if record is None:
            return None
        try:
            value = json.loads(record.data)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None
