"""The integrity rule's questions (:class:`pipeline.check.integrity.IntegrityLookup`) answered
from the catalogue: indexed lookups only, never a scan.

A near-identical photo is found by its hash's four 16-bit bands (``media.band0..3``, each
indexed together with the whole hash). Two hashes within ``d`` bits of each other agree exactly on at least one band
when d <= 3, and within one bit on at least one band when d <= 7 (pigeonhole): the
candidates are the rows whose band equals one of the probes (a band and, for d >= 4, its
16 one-bit neighbours), and the database compares the whole hashes in the index, so only
matches are read and come back. At N photos a probe meets about N / 65,536 rows of random hashes (docs/scaling.md).
"""

from __future__ import annotations

from typing import Any, Collection, Mapping

from sqlalchemy import Engine, cast, func, select, union
from sqlalchemy.dialects.postgresql import BIT

from pipeline.check.integrity import (AttendanceSeen, MediaSeen, OtherTraining, TeachingSeen, band_probes, hash_bands,
                                      probe_radius, signed64, unsigned64)
from pipeline.catalogue.schema import BAND_COLUMNS, attendance, decisions, media, teaching, trainings

#: SQL parameters per IN list (SQLite allows 32,766; PostgreSQL 65,535 in all)
CHUNK = 5_000


def _chunks(values: Collection[Any]) -> list[list[Any]]:
    items = sorted(values)
    return [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]


_TRAINING_COLUMNS = (trainings.c.receipt_id, trainings.c.institution, trainings.c.occupation, trainings.c.level,
                     trainings.c.start_date, trainings.c.end_date)


def _training(row: Mapping[str, Any]) -> OtherTraining:
    return OtherTraining(row["receipt_id"], row["institution"], row["occupation"], row["level"], row["start_date"],
                         row["end_date"])


def live(table: Any = trainings) -> Any:
    """Trainings (``table``: ``trainings`` or an alias) of decisions not superseded by a
    re-check (``pipeline requeue``: the new decision stands for them)."""
    replaced = select(decisions.c.supersedes).where(decisions.c.supersedes.is_not(None))
    return table.c.receipt_id.not_in(replaced)


def hamming_distance(dialect: str, column: Any, value: int) -> Any:
    """The SQL expression of the bits in which ``column`` (a signed 64-bit hash) differs from
    ``value`` (unsigned): PostgreSQL counts them itself (``bit_count`` of the XOR as
    ``bit(64)``); SQLite calls the ``hamming64`` function every connection registers
    (pipeline/catalogue/database.py)."""
    if dialect == "postgresql":
        return func.bit_count(cast(column.op("#")(signed64(value)), BIT(64)))
    return func.hamming64(column, signed64(value))


def media_query(sha256s: Collection[str], phashes: Collection[int], distance: int, dialect: str) -> Any:
    """The media rows with one of these SHA-256s, and the photos within ``distance`` bits of
    one of ``phashes``; None when there is nothing to ask. Per photo and band one probe (the
    band, and with a radius its neighbours) that compares the whole hashes inside the band's
    index (it holds the hash: no table row is read for a candidate that does not match); the
    union of the matching ids, and then only their rows. Videos have no bands, so a probe
    meets photos only. Their trainings are asked apart (:func:`_trainings_by_id`)."""
    matches = [select(media.c.id).where(media.c.sha256.in_(chunk)) for chunk in _chunks(sha256s)]
    radius = probe_radius(distance)
    for phash in sorted(phashes):
        close = hamming_distance(dialect, media.c.phash, phash) <= distance
        for band, column in enumerate(BAND_COLUMNS):
            probes = band_probes(hash_bands(phash)[band], radius)
            matches.append(select(media.c.id).where(column.in_(probes), close))
    if not matches:
        return None
    ids = union(*matches) if len(matches) > 1 else matches[0]
    return (select(media.c.training_id, media.c.path, media.c.sha256, media.c.phash)
            .where(media.c.id.in_(select(ids.subquery().c.id))))


class CatalogueLookup:
    """What the accepted packages in the catalogue say (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def media_like(self, sha256s: Collection[str], phashes: Collection[int], distance: int) -> list[MediaSeen]:
        query = media_query(sha256s, phashes, distance, self.engine.dialect.name)
        if query is None:
            return []
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
            found = _trainings_by_id(connection, {r.training_id for r in rows})
        return [MediaSeen(found[r.training_id], r.path, r.sha256, None if r.phash is None else unsigned64(r.phash))
                for r in rows if r.training_id in found]

    def attendance_of(self, persons: Collection[str]) -> list[AttendanceSeen]:
        rows: list[Any] = []
        with self.engine.connect() as connection:
            for chunk in _chunks(persons):
                rows += connection.execute(select(attendance.c.training_id, attendance.c.person_key,
                                                  attendance.c.date, attendance.c.mode)
                                           .where(attendance.c.person_key.in_(chunk))).all()
            found = _trainings_by_id(connection, {r.training_id for r in rows})
        return [AttendanceSeen(found[r.training_id], r.person_key, r.date, r.mode)
                for r in rows if r.training_id in found]

    def teaching_of(self, persons: Collection[str], dates: Collection[str]) -> list[TeachingSeen]:
        if not dates:
            return []
        rows: list[Any] = []
        with self.engine.connect() as connection:
            for chunk in _chunks(persons):
                rows += connection.execute(select(teaching.c.training_id, teaching.c.person_key, teaching.c.date,
                                                  teaching.c.hours)
                                           .where(teaching.c.person_key.in_(chunk),
                                                  teaching.c.date.in_(sorted(dates)))).all()
            found = _trainings_by_id(connection, {r.training_id for r in rows})
        return [TeachingSeen(found[r.training_id], r.person_key, r.date, float(r.hours))
                for r in rows if r.training_id in found]


def _trainings_by_id(connection: Any, ids: Collection[int]) -> dict[int, OtherTraining]:
    """The live trainings of these ids. Asked apart from the rows that name them: joined in
    one query, PostgreSQL's estimate of a person's rows (the mean over everyone) chose to
    hash every training (70 ms at 100,000 packages, growing with them); by primary key it is
    a few index lookups whatever the size (bench/catalogue_scale.py)."""
    out: dict[int, OtherTraining] = {}
    for chunk in _chunks(ids):
        query = select(trainings.c.id, *_TRAINING_COLUMNS).where(trainings.c.id.in_(chunk), live())
        out.update({r["id"]: _training(r) for r in connection.execute(query).mappings()})
    return out
