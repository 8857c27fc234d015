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

import functools
from typing import Any, Collection, Mapping

from sqlalchemy import BigInteger, Engine, Integer, bindparam, cast, func, select, union
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


def hamming_distance(dialect: str, column: Any, value: Any) -> Any:
    """The SQL expression of the bits in which ``column`` and ``value`` (both signed 64-bit
    hashes: :func:`signed64`) differ: PostgreSQL counts them itself (``bit_count`` of the
    XOR as ``bit(64)``); SQLite calls the ``hamming64`` function every connection registers
    (pipeline/catalogue/database.py)."""
    if dialect == "postgresql":
        return func.bit_count(cast(column.op("#")(value), BIT(64)))
    return func.hamming64(column, value)


#: photos per near-duplicate statement: 4 probes each, under SQLite's 500 SELECTs in a UNION
PHOTOS_PER_STATEMENT = 32


@functools.lru_cache(maxsize=128)
def _media_statement(dialect: str, photos: int, sha_lists: int) -> Any:
    """The near-duplicate statement for this many photos and lists of SHA-256s, built once
    and then only given values (building a union of 40 SELECTs cost three times running it).
    Its parameters: ``sha{n}`` (a list), ``hash{p}`` and ``band{p}_{b}`` (a list of probes)
    per photo and band, and ``distance``."""
    matches = [select(media.c.id).where(media.c.sha256.in_(bindparam(f"sha{n}", expanding=True)))
               for n in range(sha_lists)]
    for photo in range(photos):
        close = hamming_distance(dialect, media.c.phash, bindparam(f"hash{photo}", type_=BigInteger)) \
            <= bindparam("distance", type_=Integer)
        for band, column in enumerate(BAND_COLUMNS):
            matches.append(select(media.c.id).where(column.in_(bindparam(f"band{photo}_{band}", expanding=True)),
                                                    close))
    ids = union(*matches) if len(matches) > 1 else matches[0]
    return (select(media.c.training_id, media.c.path, media.c.sha256, media.c.phash)
            .where(media.c.id.in_(select(ids.subquery().c.id))))


def media_queries(sha256s: Collection[str], phashes: Collection[int], distance: int,
                  dialect: str) -> list[tuple[Any, dict[str, Any]]]:
    """The statements (with their values) that find the media rows with one of these
    SHA-256s, and the photos within ``distance`` bits of one of ``phashes``. Per photo and
    band one probe (the band, and with a radius its neighbours) that compares the whole
    hashes inside the band's index (it holds the hash: no table row is read for a candidate
    that does not match); the union of the matching ids, and then only their rows. Videos
    have no bands, so a probe meets photos only. Their trainings are asked apart
    (:func:`_trainings_by_id`)."""
    radius = probe_radius(distance)
    hashes = sorted(phashes)
    groups = [hashes[i:i + PHOTOS_PER_STATEMENT] for i in range(0, len(hashes), PHOTOS_PER_STATEMENT)]
    sha_lists = _chunks(sha256s)
    out = []
    for n, group in enumerate(groups or [[]]):
        shas = sha_lists if n == 0 else []
        if not group and not shas:
            continue
        values: dict[str, Any] = {f"sha{i}": chunk for i, chunk in enumerate(shas)}
        values["distance"] = distance
        for photo, phash in enumerate(group):
            values[f"hash{photo}"] = signed64(phash)
            for band, value in enumerate(hash_bands(phash)):
                values[f"band{photo}_{band}"] = band_probes(value, radius)
        out.append((_media_statement(dialect, len(group), len(shas)), values))
    return out


class CatalogueLookup:
    """What the accepted packages in the catalogue say (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def media_like(self, sha256s: Collection[str], phashes: Collection[int], distance: int) -> list[MediaSeen]:
        queries = media_queries(sha256s, phashes, distance, self.engine.dialect.name)
        if not queries:
            return []
        rows: set[Any] = set()
        with self.engine.connect() as connection:
            for statement, values in queries:
                rows.update(connection.execute(statement, values).all())
            found = _trainings_by_id(connection, {r.training_id for r in rows})
        return [MediaSeen(found[r.training_id], r.path, r.sha256, None if r.phash is None else unsigned64(r.phash))
                for r in sorted(rows) if r.training_id in found]

    def warm_up(self, photos: int = 10, distance: int = 3) -> None:
        """Ask each question once about nothing (values no row has), so a worker's first
        package does not pay for building and compiling the statements (0.2 s): the media
        statement is built per number of photos, ``photos`` being a one-training package's."""
        self.media_like({"0" * 64}, set(range(photos)), distance)
        self.attendance_of({""})
        self.teaching_of({""}, {"0000-00-00"})

    def attendance_of(self, persons: Collection[str]) -> list[AttendanceSeen]:
        rows: list[Any] = []
        with self.engine.connect() as connection:
            for chunk in _chunks(persons):
                rows += connection.execute(_attendance_statement(), {"persons": chunk}).all()
            found = _trainings_by_id(connection, {r.training_id for r in rows})
        return [AttendanceSeen(found[r.training_id], r.person_key, r.date, r.mode)
                for r in rows if r.training_id in found]

    def teaching_of(self, persons: Collection[str], dates: Collection[str]) -> list[TeachingSeen]:
        if not dates:
            return []
        rows: list[Any] = []
        with self.engine.connect() as connection:
            for chunk in _chunks(persons):
                rows += connection.execute(_teaching_statement(), {"persons": chunk, "dates": sorted(dates)}).all()
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
        rows = connection.execute(_trainings_statement(), {"ids": chunk}).mappings()
        out.update({r["id"]: _training(r) for r in rows})
    return out


# The statements of a package's questions, built once and then only given values: building
# them cost more than running them (bench/catalogue_scale.py's profile at 20,000 packages).

@functools.cache
def _attendance_statement() -> Any:
    return (select(attendance.c.training_id, attendance.c.person_key, attendance.c.date, attendance.c.mode)
            .where(attendance.c.person_key.in_(bindparam("persons", expanding=True))))


@functools.cache
def _teaching_statement() -> Any:
    return (select(teaching.c.training_id, teaching.c.person_key, teaching.c.date, teaching.c.hours)
            .where(teaching.c.person_key.in_(bindparam("persons", expanding=True)),
                   teaching.c.date.in_(bindparam("dates", expanding=True))))


@functools.cache
def _trainings_statement() -> Any:
    return select(trainings.c.id, *_TRAINING_COLUMNS).where(trainings.c.id.in_(bindparam("ids", expanding=True)),
                                                            live())
