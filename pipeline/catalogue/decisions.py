"""The catalogue's writing side and its decision index: every stored decision, and the
facts of every accepted package, written once.

:meth:`DecisionCatalogue.record` is what the decided-package step calls (the
``package_decided`` actor, from the stored document and the facts the check found). It is
one transaction and idempotent: the decision's row is upserted (a later record of the same
document, e.g. after retention removed its ZIP, updates it), its metrics are added only
when the row is new, and its facts only while ``facts_recorded`` is 0. A redelivered
message writes nothing twice, whatever the crash.

The read side answers ``pipeline find``, ``status``, ``receipt`` and ``requeue`` (the
interface the Redis index had before, pipeline/ops/queries.py), so they work with Redis
down.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping

from sqlalchemy import Connection, Engine, and_, delete, func, or_, select, update

from pipeline.check.documents import ACCEPTED, RECEIPT_ID, STATUSES
from pipeline.check.integrity import PackageFacts, hash_bands, signed64
from pipeline.check.privacy import redact
from pipeline.catalogue.database import writer
from pipeline.catalogue.schema import attendance, counters, decisions, media, meta, persons, teaching, trainings
from pipeline.catalogue.upsert import insert_ignoring, upsert


def decided_ts(document: Mapping[str, Any]) -> float:
    try:
        return datetime.fromisoformat(str(document.get("decided_at"))).timestamp()
    except ValueError:
        return 0.0


def _masked(text: Any) -> Any:
    return redact(text) if isinstance(text, str) else text


def summary(document: Mapping[str, Any], location: str) -> dict[str, Any]:
    """What the catalogue keeps of a document stored at ``location`` (and what ``find``
    shows). The texts an uploader or the deployment chose (package name, institution,
    account, inbox location) are kept masked (pipeline/check/privacy.py): documents are
    built masked, but one stored long ago may not be, and the catalogue never holds a
    personal number."""
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


def _row(document: Mapping[str, Any], location: str) -> dict[str, Any]:
    entry = summary(document, location)
    return {
        "receipt_id": entry["receipt_id"], "status": entry["status"], "decided_at": entry["decided_at"],
        "decided_ts": decided_ts(document), "received_at": entry["received_at"],
        "institution": entry["institution"], "report_date": entry["report_date"], "package_name": entry["name"],
        "package_size": entry["size"], "package_sha256": entry["sha256"], "account": entry["account"],
        "source": entry["source"], "location": location, "error_codes": json.dumps(entry["error_codes"]),
        "errors": entry["errors"], "warnings": entry["warnings"],
        "warning_codes": json.dumps(sorted({w["code"] for w in document.get("warnings") or []})),
        "duplicate_of": entry["duplicate_of"], "supersedes": entry["supersedes"],
        "stored_as": json.dumps(entry["stored_as"], ensure_ascii=False) if entry["stored_as"] else None,
        "package_removed_at": entry["package_removed_at"], "policy_sha256": document.get("policy_sha256"),
    }


def _entry(row: Mapping[str, Any]) -> dict[str, Any]:
    """A decisions row as the summary :func:`summary` makes."""
    return {
        "receipt_id": row["receipt_id"], "status": row["status"], "decided_at": row["decided_at"],
        "received_at": row["received_at"], "institution": row["institution"], "report_date": row["report_date"],
        "name": row["package_name"], "size": row["package_size"], "sha256": row["package_sha256"],
        "account": row["account"], "source": row["source"], "location": row["location"],
        "error_codes": json.loads(row["error_codes"] or "[]"), "errors": row["errors"],
        "warnings": row["warnings"], "duplicate_of": row["duplicate_of"], "supersedes": row["supersedes"],
        "stored_as": json.loads(row["stored_as"]) if row["stored_as"] else None,
        "package_removed_at": row["package_removed_at"],
    }


#: the beginning of a receipt id, long enough to narrow it (the year at least)
RECEIPT_PREFIX = re.compile(r"^R[0-9]{4}([0-9]{1,4}(-[0-9A-HJKMNP-TV-Z]{0,7})?)?$")


def _needles(fragment: str) -> set[str]:
    """A search fragment as the entries may hold it: as given, and with personal numbers
    masked (the entries hold them masked), both case-folded."""
    return {fragment.casefold(), redact(fragment).casefold()}


def _text_clause(needles: set[str]) -> Any:
    """Entries whose receipt id, package name, institution, account or inbox location
    contains one of ``needles`` (SQL lower(): ASCII case-folding on SQLite)."""
    columns = (decisions.c.receipt_id, decisions.c.package_name, decisions.c.institution, decisions.c.account,
               decisions.c.source)
    return or_(*(func.lower(column).contains(needle, autoescape=True) for needle in needles for column in columns))


def key_digest(key: str) -> str:
    """The ``training_key`` column: SHA-256 of the training's key (a short, indexable column)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def write_facts(connection: Connection, receipt_id: str, facts: PackageFacts) -> None:
    """Insert the rows of one accepted package's facts (the caller's transaction)."""
    if facts.persons:
        insert_ignoring(connection, persons, [{"person_key": p.key, "masked": p.masked, "name": p.name}
                                              for p in facts.persons], ["person_key"])
    ids: list[int] = []
    for index, t in enumerate(facts.trainings):
        ids.append(connection.execute(trainings.insert().returning(trainings.c.id), {
            "receipt_id": receipt_id, "training_key": key_digest(facts.key_of(index)),
            "institution": facts.institution, "occupation": t.occupation, "level": t.level, "folder": t.folder,
            "start_date": t.start_date, "end_date": t.end_date, "theory_mode": ",".join(t.theory_mode),
            "practice_mode": ",".join(t.practice_mode), "planned_trainees": t.planned_trainees}).scalar_one())
    if facts.attendance:
        connection.execute(attendance.insert(), [
            {"training_id": ids[a.training], "person_key": a.person, "date": a.date, "mode": a.mode,
             "hours": a.hours}
            for a in facts.attendance])
    if facts.teaching:
        connection.execute(teaching.insert(), [
            {"training_id": ids[t.training], "person_key": t.person, "date": t.date, "hours": t.hours,
             "section": t.section} for t in facts.teaching])
    if facts.media:
        rows = []
        for m in facts.media:
            bands = hash_bands(m.phash) if m.phash is not None else (None,) * 4
            rows.append({"training_id": ids[m.training], "path": m.path, "kind": m.kind, "sha256": m.sha256,
                         "phash": signed64(m.phash) if m.phash is not None else None,
                         "band0": bands[0], "band1": bands[1], "band2": bands[2], "band3": bands[3]})
        connection.execute(media.insert(), rows)


def _erase_facts(connection: Connection, receipt_ids: Iterable[str]) -> int:
    """Delete the facts rows of these decisions (attendance, teaching and media go with
    their trainings). Persons stay: others may have seen them; :func:`_drop_orphans`."""
    ids = list(receipt_ids)
    if not ids:
        return 0
    training_ids = select(trainings.c.id).where(trainings.c.receipt_id.in_(ids))
    for table in (attendance, teaching, media):  # explicit: SQLite's cascade needs foreign_keys=ON
        connection.execute(delete(table).where(table.c.training_id.in_(training_ids)))
    return connection.execute(delete(trainings).where(trainings.c.receipt_id.in_(ids))).rowcount


def _drop_orphans(connection: Connection) -> None:
    """Persons no attendance or teaching names any more (after an erasure)."""
    used = select(attendance.c.person_key).union(select(teaching.c.person_key))
    connection.execute(delete(persons).where(persons.c.person_key.not_in(used)))


class DecisionCatalogue:
    """The decisions and facts in the catalogue database (module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = writer(engine)

    # -- writing ---------------------------------------------------------------------------
    def record(self, document: Mapping[str, Any], location: str, count: Mapping[str, float] | None = None,
               facts: PackageFacts | None = None) -> bool:
        """Upsert the decision of ``document`` (stored at ``location``); True when it is new,
        and then, only then, the ``count`` increments are added to the counters. ``facts``
        (an accepted package's) are written unless they were already."""
        row = _row(document, location)
        with self._writer.begin() as connection:
            new = insert_ignoring(connection, decisions, [row], ["receipt_id"]) == 1
            if not new:
                connection.execute(update(decisions).where(decisions.c.receipt_id == row["receipt_id"])
                                   .values({k: v for k, v in row.items() if k != "receipt_id"}))
            if new and count:
                self._add(connection, count)
            if facts is not None and document.get("status") == ACCEPTED:
                claimed = connection.execute(
                    update(decisions).where(and_(decisions.c.receipt_id == row["receipt_id"],
                                                 decisions.c.facts_recorded == 0,
                                                 decisions.c.erased_at.is_(None)))
                    .values(facts_recorded=1)).rowcount
                if claimed:
                    write_facts(connection, row["receipt_id"], facts)
        return new

    def has_facts(self, receipt_id: str) -> bool:
        with self.engine.connect() as connection:
            return bool(connection.execute(select(decisions.c.facts_recorded)
                                           .where(decisions.c.receipt_id == receipt_id)).scalar())

    def erase(self, receipt_id: str, reason: str, at: datetime) -> dict[str, Any] | None:
        """Erase a withdrawn package's facts (trainings, attendance, teaching, media, and the
        persons nobody else names); its decision stays listed, marked erased. None when
        the receipt id is not in the catalogue. The archive is not touched."""
        with self._writer.begin() as connection:
            found = connection.execute(update(decisions).where(decisions.c.receipt_id == receipt_id)
                                       .values(erased_at=at.isoformat(timespec="seconds"), erased_reason=reason,
                                               facts_recorded=0)).rowcount
            if not found:
                return None
            removed = _erase_facts(connection, [receipt_id])
            _drop_orphans(connection)
        return {"receipt_id": receipt_id, "trainings_removed": removed}

    def erased(self) -> set[str]:
        with self.engine.connect() as connection:
            return set(connection.execute(select(decisions.c.receipt_id)
                                          .where(decisions.c.erased_at.is_not(None))).scalars())

    def _add(self, connection: Connection, amounts: Mapping[str, float]) -> None:
        for name, amount in amounts.items():
            upsert(connection, counters, {"name": name, "value": float(amount)}, ["name"],
                   {"value": counters.c.value + float(amount)})

    def add(self, amounts: Mapping[str, float]) -> None:
        """Add to the counters (the mail results: pipeline/ops/metrics.py)."""
        with self._writer.begin() as connection:
            self._add(connection, amounts)

    def counter_values(self) -> dict[str, float]:
        with self.engine.connect() as connection:
            return {name: float(value) for name, value in connection.execute(select(counters.c.name,
                                                                                    counters.c.value))}

    def forget(self, receipt_ids: Iterable[str]) -> int:
        """Drop the decisions (and facts) of documents that are gone from the store."""
        ids = list(receipt_ids)
        if not ids:
            return 0
        with self._writer.begin() as connection:
            _erase_facts(connection, ids)
            dropped = connection.execute(delete(decisions).where(decisions.c.receipt_id.in_(ids))).rowcount
            _drop_orphans(connection)
        return dropped

    def rebuild(self, documents: Iterable[tuple[str, dict[str, Any]]], *, grace_seconds: float = 300.0,
                clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                facts_of: Callable[[str, dict[str, Any]], PackageFacts | None] | None = None) -> dict[str, Any]:
        """Re-read the store: upsert every ``(location, document)`` (with ``facts_of(location,
        document)`` for an accepted one without facts yet, when given), drop the decisions whose
        documents were not seen (unless decided within ``grace_seconds`` of the start: a
        worker may be storing one right now), then remember the rebuild. Resumable: what a
        broken-off rebuild wrote stays, and is not written again."""
        started = time.time()
        seen: set[str] = set()
        with_facts = 0
        for location, document in documents:
            facts = None
            if facts_of is not None and document.get("status") == ACCEPTED \
                    and not self.has_facts(document["receipt_id"]):
                facts = facts_of(location, document)
            self.record(document, location, facts=facts)
            with_facts += facts is not None
            seen.add(document["receipt_id"])
        with self.engine.connect() as connection:
            old = connection.execute(select(decisions.c.receipt_id)
                                     .where(decisions.c.decided_ts < started - grace_seconds)).scalars().all()
        dropped = self.forget([rid for rid in old if rid not in seen])
        stats = {"built_at": clock().isoformat(timespec="seconds"), "documents": len(seen),
                 "facts_written": with_facts, "dropped": dropped, "seconds": round(time.time() - started, 3)}
        with self._writer.begin() as connection:
            upsert(connection, meta, {"name": "rebuild", "value": json.dumps(stats)}, ["name"],
                   {"value": json.dumps(stats)})
        return stats

    # -- reading ---------------------------------------------------------------------------
    def built(self) -> dict[str, Any] | None:
        """The last rebuild's facts, or None when the catalogue was never rebuilt. A
        catalogue filled live is complete without one: see :meth:`size`."""
        with self.engine.connect() as connection:
            value = connection.execute(select(meta.c.value).where(meta.c.name == "rebuild")).scalar()
        return json.loads(value) if value else None

    def size(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(decisions)).scalar_one())

    def _select(self, *where: Any, order: tuple[Any, ...] = (decisions.c.decided_at, decisions.c.receipt_id),
                limit: int | None = None) -> list[dict[str, Any]]:
        """The entries ``where`` holds, with the receipt id of their re-check, in ``order``."""
        successor = decisions.alias("successor")
        query = (select(decisions, successor.c.receipt_id.label("superseded_by"))
                 .outerjoin(successor, successor.c.supersedes == decisions.c.receipt_id).where(*where)
                 .order_by(*order).limit(limit))
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        out = []
        for row in rows:
            entry = _entry(row)
            entry["superseded_by"] = row["superseded_by"]
            out.append(entry)
        return out

    def recent(self, limit: int, account: str | None = None) -> list[dict[str, Any]]:
        """The ``limit`` newest decisions (of the institution registry's ``account``), newest first."""
        where = () if account is None else (decisions.c.account == account,)
        return self._select(*where, order=(decisions.c.decided_ts.desc(), decisions.c.receipt_id.desc()),
                            limit=limit)

    def get(self, receipt_id: str) -> dict[str, Any] | None:
        found = self._select(decisions.c.receipt_id == receipt_id, order=())
        return found[0] if found else None

    def get_many(self, receipt_ids: list[str]) -> list[dict[str, Any]]:
        """The entries of those receipt ids that are recorded, in the order asked."""
        if not receipt_ids:
            return []
        found = {e["receipt_id"]: e for e in self._select(decisions.c.receipt_id.in_(receipt_ids), order=())}
        return [found[rid] for rid in receipt_ids if rid in found]

    def superseded_by(self, receipt_id: str) -> str | None:
        with self.engine.connect() as connection:
            return connection.execute(select(decisions.c.receipt_id)
                                      .where(decisions.c.supersedes == receipt_id)).scalar()

    def by_sha256(self, prefix: str) -> list[dict[str, Any]]:
        """Entries whose package SHA-256 starts with ``prefix`` (lower-case hex)."""
        return self._select(decisions.c.package_sha256.startswith(prefix, autoescape=True))

    def search(self, fragment: str) -> list[dict[str, Any]]:
        """Entries whose receipt id, package name, institution, account or inbox location
        contains ``fragment`` (case-insensitive). The entries hold personal numbers masked,
        so a fragment holding one in full is looked for masked too."""
        needles = _needles(fragment)
        # lower() folds ASCII in SQLite; the Python check below is the exact, Unicode one
        found = self._select(_text_clause(needles))
        return [e for e in found
                if any(n in "\0".join([e["receipt_id"], *(str(e.get(k) or "") for k in
                                                          ("name", "institution", "account", "source"))]).casefold()
                       for n in needles)]

    def _receipt_prefix(self, prefix: str) -> Any:
        """Receipt ids beginning with ``prefix``. On SQLite (binary order) also as a range of
        the primary key, so only those rows are read; PostgreSQL's text order under a
        language's collation skips the hyphen, so there the LIKE alone decides (a scan)."""
        clause = decisions.c.receipt_id.startswith(prefix, autoescape=True)
        if self.engine.dialect.name == "sqlite":  # ids are [0-9A-Z-], all below "~"
            clause = and_(decisions.c.receipt_id >= prefix, decisions.c.receipt_id < prefix + "~", clause)
        return clause

    def filtered(self, *, text: str = "", training: str = "", status: str | None = None, code: str = "",
                 since_ts: float | None = None, until_ts: float | None = None,
                 limit: int = 500) -> list[dict[str, Any]]:
        """The newest ``limit`` entries matching every condition given: ``text`` in the
        receipt id, package name, institution, account or inbox location (as :meth:`search`);
        ``training`` in an accepted training's occupation and level (e.g. 育婴师 or 育婴师初级);
        the status; an error ``code`` (e.g. MEDIA_COUNT); decided in [since_ts, until_ts)
        (epoch seconds)."""
        where: list[Any] = []
        if RECEIPT_ID.match(text.strip().upper()):  # a whole receipt id: its primary key, not a scan
            where.append(decisions.c.receipt_id == text.strip().upper())
        elif RECEIPT_PREFIX.match(text.strip().upper()):  # its beginning (R20261121, R20261121-7K)
            where.append(self._receipt_prefix(text.strip().upper()))
        elif text.strip():
            where.append(_text_clause(_needles(text.strip())))
        if training.strip():
            named = (trainings.c.occupation + trainings.c.level).contains(training.strip(), autoescape=True)
            where.append(decisions.c.receipt_id.in_(select(trainings.c.receipt_id).where(named)))
        if status:
            where.append(decisions.c.status == status)
        if code.strip():
            where.append(decisions.c.error_codes.contains(json.dumps(code.strip().upper()), autoescape=True))
        if since_ts is not None:
            where.append(decisions.c.decided_ts >= since_ts)
        if until_ts is not None:
            where.append(decisions.c.decided_ts < until_ts)
        return self._select(*where, order=(decisions.c.decided_ts.desc(), decisions.c.receipt_id.desc()),
                            limit=limit)

    def timeline(self, since_ts: float) -> list[dict[str, Any]]:
        """Every decision from ``since_ts`` on, light (the dashboard's): when, status, error
        codes, and when its package was received and decided (ISO 8601)."""
        query = (select(decisions.c.decided_ts, decisions.c.status, decisions.c.error_codes,
                        decisions.c.received_at, decisions.c.decided_at)
                 .where(decisions.c.decided_ts >= since_ts).order_by(decisions.c.decided_ts))
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [{"ts": r["decided_ts"], "status": r["status"], "error_codes": json.loads(r["error_codes"] or "[]"),
                 "received_at": r["received_at"], "decided_at": r["decided_at"]} for r in rows]

    def since(self, ts: float, status: str | None = None) -> list[dict[str, Any]]:
        """Entries decided at or after ``ts`` (epoch seconds), oldest first."""
        where = [decisions.c.decided_ts >= ts]
        if status:
            where.append(decisions.c.status == status)
        return self._select(*where, order=(decisions.c.decided_ts, decisions.c.receipt_id))

    def count_since(self, ts: float) -> dict[str, int]:
        """Decisions at or after ``ts`` by status."""
        return self._counts(decisions.c.decided_ts >= ts)

    def counts(self) -> dict[str, int]:
        """Every recorded decision by status."""
        return self._counts()

    def _counts(self, *where: Any) -> dict[str, int]:
        # grouped by an expression of the status, not the column: with a time range SQLite
        # would otherwise walk all of ix_decisions_status_ts (every decision ever: 8 ms at
        # 100,000) instead of the range of ix_decisions_decided_ts (0.05 ms; bench/web_pages.py)
        status = func.coalesce(decisions.c.status, "") if where else decisions.c.status
        query = select(status, func.count()).where(*where).group_by(status)
        with self.engine.connect() as connection:
            found = {row[0]: row[1] for row in connection.execute(query)}
        return {status: int(found.get(status, 0)) for status in STATUSES}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        yield from self._select()
