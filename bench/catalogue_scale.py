"""The catalogue at scale: how long the integrity signals add to a package's decision, how
fast `trace` and the near-duplicate search answer, and how big the database grows, with a
synthetic catalogue of N accepted packages (default 1,000,000) on SQLite and/or a real
PostgreSQL server.

What is loaded (docs/catalogue.md's tables, migrated by `open_engine`): per package one
`decisions` row (accepted, `decided_ts` increasing over three years, receipt ids in the
pipeline's format) and one training; 20 trainees drawn from a population of 5 × N × 20 / 3
persons (so about 45 % of the population is seen and a quarter of the trainee slots
name a person seen before), each signed in on ~8 session dates (8 dates; a quarter of the
trainees miss one); 2 teachers drawn from a population of N / 2, each with 8 sessions of
4–6 hours (theory, practice); 10 photos with a random 64-bit perceptual hash (and its four
bands) and a random SHA-256. Persons are 64-hex-character keys (a hash of the person's
index: the keyed hash's form, no ID numbers needed). Generated in chunks (`--chunk`
packages at a time) so memory stays flat.

How it is loaded (fast, and not how the pipeline writes: that is `DecisionCatalogue.record`,
one transaction per package): the migrated database's secondary indexes (and on PostgreSQL
the foreign keys) are dropped, the rows go in with explicit ids, then the indexes are built
again from their saved definitions and the foreign keys re-added (validated), then ANALYZE.
SQLite: the Core tables' INSERT statements through the driver's executemany, one
transaction per chunk, with journal_mode=OFF, synchronous=OFF and foreign_keys=OFF during the
load only (the file is in WAL mode again after it). PostgreSQL: psycopg's COPY
(`cursor.copy`, `write_row`), one transaction per chunk, two connections writing chunks at
once (the server's inserts are the bottleneck; the machine has two CPUs). Attendance, 3/4
of all rows, is staged: each trainee's slot (training, person, the session missed) and each
training's sessions go in (executemany or COPY into two temporary tables) and one INSERT
... SELECT per chunk makes the attendance rows in the database (Python builds 8 times fewer
tuples).

Disk: a database of 1,000,000 packages is ~40 GB on SQLite; on PostgreSQL ~37 GB of heap,
~21 GB of indexes, and building the largest index sorts ~14 GB in temporary files.

What is measured, each over `--samples` samples after 10 unrecorded warm-up ones, reported
as p50/p95/p99/max (milliseconds), through the pipeline's own code (`open_engine`'s engine:
on SQLite a new connection per use, as the workers have). The samples are prepared first
(random catalogued rows read by id) and then frozen out of the garbage collector
(`gc.freeze`): the bench's own heap does not put full collections into the timings. The
first pass reads pages of the samples' rows for the first time (cold for them, as far as
the load left the cache: at full size the database is bigger than the RAM); `--passes 2`
(the default) times the same samples again, their pages just read (warm): the difference is
the reading from disk.
  (a) signals: the added time of one new package's integrity check: `media_signals` +
      `trainee_signals` + `teacher_signals` (each `list()`ed) against `CatalogueLookup`. The
      new package (another institution) is built like the loaded ones (20 trainees, 2
      teachers × 8 sessions, 10 photos); 2 of its trainees and 1 teacher are taken from a
      random catalogued training, on that training's dates, 1 photo is byte-identical to a
      photo of another random training and 1 within 2 bits of one; the rest is new. Every
      sample must find those hits (checked and reported). Target: p95 under 50 ms.
  (b) trace: `trainings_attended` of a random catalogued trainee.
  (c) near-duplicate search: `CatalogueLookup.media_like` with 10 new SHA-256s and 10
      hashes, 2 of them 1–3 bits from a catalogued photo's, distance 3 (the rows it returns
      are counted: the candidates, or only the matches when the database compares the
      hashes).
  (d) size: SQLite the file plus its WAL after a checkpoint; PostgreSQL
      `pg_database_size`; divided by N.
The query plans of (a)–(c) (each SQL statement as executed, EXPLAIN QUERY PLAN on SQLite,
EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL) go to the results file, with the plans (EXPLAIN
only: not run) of `pipeline integrity report --since <the last day>`'s three queries; the
full scans in them are listed.

Results: a markdown table on standard output, appended (with the machine, the versions, the
commit of the code measured and the command) to bench/results/catalogue-<date>.md. The database files are deleted at the
end (`--keep` keeps them). Smoke run: `--packages 2000`.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import itertools
import os
import platform
import random
import re
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import sqlalchemy  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy.dialects import sqlite as sqlite_dialect  # noqa: E402

from pipeline.catalogue.database import make_engine, open_engine  # noqa: E402
from pipeline.catalogue.decisions import key_digest  # noqa: E402
from pipeline.catalogue.inspection import media_pairs, teacher_pairs, trainee_pairs, trainings_attended  # noqa: E402
from pipeline.catalogue.lookup import CatalogueLookup  # noqa: E402
from pipeline.catalogue.schema import attendance, decisions, media, persons, teaching, trainings  # noqa: E402
from pipeline.check.contract import PHOTO  # noqa: E402
from pipeline.check.integrity import (OFFLINE, Attendance, MediaFacts, PackageFacts, PersonFacts,  # noqa: E402
                                      Teaching, TrainingFacts, media_signals, signed64,
                                      teacher_signals, trainee_signals, training_key, unsigned64)

RESULTS = REPO / "bench" / "results"
CST = timezone(timedelta(hours=8))
T0 = datetime(2024, 1, 2, 9, 0, tzinfo=CST)
SPAN_S = 3 * 365 * 86400  # the loaded decisions are spread over three years
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # the receipt ids' (pipeline/check/documents.py)
TRAINEES, TEACHERS, PHOTOS, SESSIONS = 20, 2, 10, 8
DISTANCE, MAX_HOURS = 3, 8.0  # the policy's defaults
HOURS = (4.0, 4.5, 5.0, 5.5, 6.0)
OCCUPATIONS = [("育婴师", "初级"), ("育婴师", "中级"), ("电工", "初级"), ("电工", "中级"), ("电工", "高级"),
               ("焊工", "初级"), ("焊工", "中级"), ("车工", "中级"), ("中式烹调师", "初级"), ("美容师", "初级"),
               ("保育师", "初级"), ("养老护理员", "初级"), ("家政服务员", "初级"), ("茶艺师", "中级"),
               ("网络与信息安全管理员", "中级"), ("电子商务师", "初级")]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
         "秀兰", "霞", "平", "刚", "桂英", "建华", "文", "华", "红", "玉兰", "辉", "鑫", "婷", "雪", "欣怡", "子涵",
         "浩然", "宇轩", "晨", "佳", "海燕", "建国"]
FACTS_TABLES = (decisions, trainings, persons, attendance, teaching, media)


# -- the synthetic catalogue ------------------------------------------------------------------


def _key(salt: bytes, index: int) -> str:
    """A person's 64-hex key: stands for the keyed hash of an ID number."""
    return hashlib.sha256(salt + index.to_bytes(8, "little")).hexdigest()


def _name(index: int) -> str:
    return SURNAMES[index % len(SURNAMES)] + GIVEN[(index // len(SURNAMES)) % len(GIVEN)]


def _masked(index: int) -> str:
    return f"{110101 + index % 890000:06d}********{index % 10000:04d}"


class Synthetic:
    """Rows of N packages, a chunk at a time, from a seed (module docstring)."""

    def __init__(self, packages: int, seed: int) -> None:
        self.packages = packages
        self.rng = random.Random(seed)
        self.trainee_population = max(TRAINEES, 5 * packages * TRAINEES // 3)
        self.teacher_population = max(TEACHERS, packages // 2)
        self.trainee_seen = bytearray(self.trainee_population)
        self.teacher_seen = bytearray(self.teacher_population)
        self.institutions = max(20, packages // 200)  # ~200 packages per institution over 3 years
        self.step = SPAN_S / packages
        self.teaching_id = itertools.count(1)
        self.media_id = itertools.count(1)
        self.rows = dict.fromkeys((t.name for t in FACTS_TABLES), 0)

    def _receipt_id(self, when: datetime) -> str:
        tenths = (when.hour * 3600 + when.minute * 60 + when.second) * 10 + when.microsecond // 100_000
        time_part = "".join(ALPHABET[(tenths >> shift) & 31] for shift in (15, 10, 5, 0))
        rand = self.rng.getrandbits(20)
        return f"R{when:%Y%m%d}-{time_part}" + "".join(ALPHABET[(rand >> s) & 31] for s in (15, 10, 5, 0))

    def chunk(self, first: int, count: int) -> dict[str, list[tuple[Any, ...]]]:
        """The rows of packages ``first`` .. ``first + count - 1`` (0-based), by table, in the
        Core tables' column order; ids are the package's index + 1 (trainings) and running
        counters (teaching, media). Attendance comes staged, as a trainee's slot (training,
        person, the session missed or -1) and the training's sessions (training, number,
        date, hours): :data:`EXPAND_ATTENDANCE` makes the rows (ids in the database's
        order), 8 times fewer rows through Python."""
        rng = self.rng
        uniform = rng.random  # int(uniform() * n): an index below n, faster than randrange
        out: dict[str, list[tuple[Any, ...]]] = {t.name: [] for t in FACTS_TABLES if t is not attendance}
        out[SLOTS], out[SESSIONS_TABLE] = [], []
        dec, trn, per, tea, med = (out[t.name] for t in FACTS_TABLES if t is not attendance)
        slots, sessions = out[SLOTS], out[SESSIONS_TABLE]
        attended = 0
        trainee_seen, teacher_seen = self.trainee_seen, self.teacher_seen
        previous_rid = None
        for i in range(first, first + count):
            tid = i + 1
            when = T0 + timedelta(seconds=i * self.step)
            day = when.date()
            rid = self._receipt_id(when)
            inst_index = rng.randrange(self.institutions)
            institution = f"第{inst_index}职业培训学校"
            occupation, level = OCCUPATIONS[rng.randrange(len(OCCUPATIONS))]
            folder = occupation + level
            start = day - timedelta(days=rng.randrange(20, 60))
            offsets = sorted(rng.sample(range(14), SESSIONS))
            dates = [(start + timedelta(days=d)).isoformat() for d in offsets]
            end = (start + timedelta(days=13)).isoformat()
            start_s = start.isoformat()
            theory = [HOURS[int(uniform() * 5)] for _ in dates]
            practice = [HOURS[int(uniform() * 5)] for _ in dates]
            for k, (d, a, b) in enumerate(zip(dates, theory, practice)):
                sessions.append((tid, k, d, a + b))
            name = f"{institution}{day:%Y%m%d}.zip"
            account = f"inst{inst_index}"
            # one decision in a thousand is a re-check replacing the one before (requeue)
            supersedes = previous_rid if previous_rid is not None and rng.random() < 0.001 else None
            dec.append((rid, "accepted", when.isoformat(timespec="seconds"), when.timestamp(),
                        (when - timedelta(seconds=40)).isoformat(timespec="seconds"), institution,
                        day.isoformat(), name, 250_000_000 + rng.randrange(100_000_000),
                        f"{rng.getrandbits(256):064x}", account, f"{account}/{name}",
                        f"archive/{when:%Y-%m}/{rid}", "[]", 0, 0, "[]", None, supersedes, None, None,
                        "0" * 64, 1, None, None))
            previous_rid = rid
            trn.append((tid, rid, key_digest(training_key(institution, occupation, level, start_s)), institution,
                        occupation, level, folder, start_s, end, "offline", "offline", TRAINEES))
            drawn: set[int] = set()
            while len(drawn) < TRAINEES:
                drawn.add(int(uniform() * self.trainee_population))
            for p in drawn:
                key = _key(b"trainee", p)
                if not trainee_seen[p]:
                    trainee_seen[p] = 1
                    per.append((key, _masked(p), _name(p)))
                skip = int(uniform() * SESSIONS) if uniform() < 0.25 else -1
                slots.append((tid, key, skip))
                attended += SESSIONS - (skip >= 0)
            for section, t, hours in zip(("理论", "实操"), rng.sample(range(self.teacher_population), TEACHERS),
                                         (theory, practice)):
                key = _key(b"teacher", t)
                if not teacher_seen[t]:
                    teacher_seen[t] = 1
                    per.append((key, _masked(t + 7), _name(t + 3)))
                for k in range(SESSIONS):
                    tea.append((next(self.teaching_id), tid, key, dates[k], hours[k], section))
            for n in range(PHOTOS):
                phash = rng.getrandbits(64)
                section = "理论" if n < PHOTOS // 2 else "实操"
                med.append((next(self.media_id), tid, f"{name[:-4]}/{folder}/{section}/IMG_{n:04d}.jpg", PHOTO,
                            f"{rng.getrandbits(256):064x}", signed64(phash), phash >> 48, (phash >> 32) & 0xFFFF,
                            (phash >> 16) & 0xFFFF, phash & 0xFFFF))
        for table in FACTS_TABLES:
            self.rows[table.name] += attended if table is attendance else len(out[table.name])
        return out


#: the staging tables of attendance (temporary, per connection) and the expansion
SLOTS, SESSIONS_TABLE = "bench_slot", "bench_session"
STAGING = ((f"CREATE TEMPORARY TABLE {SLOTS} (tid INTEGER NOT NULL, person_key VARCHAR(64) NOT NULL, "
            "skip INTEGER NOT NULL, seq INTEGER NOT NULL)"),
           (f"CREATE TEMPORARY TABLE {SESSIONS_TABLE} (tid INTEGER NOT NULL, k INTEGER NOT NULL, "
            "date VARCHAR(10) NOT NULL, hours FLOAT NOT NULL)"),
           f"CREATE INDEX bench_session_tid ON {SESSIONS_TABLE} (tid, k)")
EXPAND_ATTENDANCE = (f"INSERT INTO attendance (training_id, person_key, date, mode, hours) "
                     f"SELECT s.tid, s.person_key, x.date, '{OFFLINE}', x.hours FROM {SLOTS} s "
                     f"JOIN {SESSIONS_TABLE} x ON x.tid = s.tid AND x.k <> s.skip ORDER BY s.seq, x.k")

#: the same on PostgreSQL, numbering the rows itself (``base``: the ids before this chunk's):
#: two connections expand chunks at once, and a sequence per row costs
EXPAND_ATTENDANCE_NUMBERED = (f"INSERT INTO attendance (id, training_id, person_key, date, mode, hours) "
                              f"SELECT %(base)s + row_number() OVER (ORDER BY s.seq, x.k), s.tid, s.person_key, "
                              f"x.date, '{OFFLINE}', x.hours FROM {SLOTS} s "
                              f"JOIN {SESSIONS_TABLE} x ON x.tid = s.tid AND x.k <> s.skip")


def _numbered(slots: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The slots with their order (the expansion keeps it: ids follow the generation)."""
    return [(*slot, n) for n, slot in enumerate(slots)]


# -- loading ------------------------------------------------------------------------------------


def _columns(table: Any) -> list[str]:
    return [c.name for c in table.columns]


class SqliteTarget:
    """The embedded catalogue: a file in ``folder``."""

    kind = "sqlite"

    def __init__(self, folder: Path) -> None:
        self.path = folder / "catalogue.sqlite3"
        self.url = f"sqlite:///{self.path}"
        self.server_version = sqlite3.sqlite_version

    def __enter__(self) -> "SqliteTarget":
        return self

    def rows(self) -> dict[str, int]:
        """The rows of each table of an existing catalogue (the ids run from 1 without gaps)."""
        with sqlite3.connect(self.path) as db:
            out = {"decisions": db.execute("SELECT count(*) FROM decisions").fetchone()[0],
                   "persons": db.execute("SELECT count(*) FROM persons").fetchone()[0]}
            for table in ("trainings", "attendance", "teaching", "media"):
                out[table] = db.execute(f"SELECT max(id) FROM {table}").fetchone()[0]
        return out

    def __exit__(self, *exc: object) -> None:
        pass

    def load(self, synthetic: Synthetic, chunk: int, log: Callable[[str], None]) -> dict[str, float]:
        engine = open_engine(self.url)  # migrated: the pipeline's schema
        engine.dispose()
        db = sqlite3.connect(self.path, isolation_level=None)
        timings: dict[str, float] = {}
        try:
            for pragma in ("journal_mode=DELETE", "journal_mode=OFF", "synchronous=OFF", "foreign_keys=OFF",
                           "cache_size=-2000000", "threads=2"):
                db.execute(f"PRAGMA {pragma}")
            indexes = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
                                 ).fetchall()
            for name, _sql in indexes:
                db.execute(f"DROP INDEX {name}")
            inserts = {t.name: str(t.insert().compile(dialect=sqlite_dialect.dialect())) for t in FACTS_TABLES}
            inserts[SLOTS] = f"INSERT INTO {SLOTS} VALUES (?, ?, ?, ?)"
            inserts[SESSIONS_TABLE] = f"INSERT INTO {SESSIONS_TABLE} VALUES (?, ?, ?, ?)"
            db.execute("PRAGMA temp_store=MEMORY")
            for statement in STAGING:
                db.execute(statement)
            started = time.perf_counter()
            for first in range(0, synthetic.packages, chunk):
                rows = synthetic.chunk(first, min(chunk, synthetic.packages - first))
                rows[SLOTS] = _numbered(rows[SLOTS])
                db.execute("BEGIN")
                for table in (decisions, trainings, persons, teaching, media):
                    db.executemany(inserts[table.name], rows[table.name])
                db.executemany(inserts[SLOTS], rows[SLOTS])
                db.executemany(inserts[SESSIONS_TABLE], rows[SESSIONS_TABLE])
                db.execute(EXPAND_ATTENDANCE)
                db.execute(f"DELETE FROM {SLOTS}")
                db.execute(f"DELETE FROM {SESSIONS_TABLE}")
                db.execute("COMMIT")
                _progress(log, first + len(rows["trainings"]), synthetic.packages, started, len(rows["trainings"]))
            timings["rows_s"] = time.perf_counter() - started
            started = time.perf_counter()
            for name, sql in indexes:
                one = time.perf_counter()
                db.execute(sql)
                log(f"  index {name}: {time.perf_counter() - one:.0f} s")
            timings["indexes_s"] = time.perf_counter() - started
            started = time.perf_counter()
            db.execute("ANALYZE")
            timings["analyze_s"] = time.perf_counter() - started
            db.execute("PRAGMA journal_mode=WAL")
        finally:
            db.close()
        return timings

    def size(self) -> int:
        db = sqlite3.connect(self.path)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
        wal = Path(str(self.path) + "-wal")
        return self.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)

    def explain(self, statement: str, parameters: Any, analyze: bool = True) -> str:
        # a connection of the pipeline's engine: the SQL functions it registers are there
        engine = make_engine(self.url)
        db = engine.raw_connection()
        try:
            cursor = db.cursor()
            cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            rows = cursor.fetchall()
        finally:
            db.close()
            engine.dispose()
        return query_plan(rows)

    def drop_statistics(self) -> None:
        db = sqlite3.connect(self.path)
        try:
            db.execute("DELETE FROM sqlite_stat1")
            db.commit()
        finally:
            db.close()

    @staticmethod
    def full_scans(plan: str) -> list[str]:
        # "SCAN t" reads every row; "SCAN t USING COVERING INDEX" reads a whole index; "SCAN
        # anon_1" reads a subquery's few rows (the near-duplicate ids), not a table
        return [line.strip() for line in plan.splitlines() if re.match(r"\s*SCAN (?!CONSTANT|anon_\d)", line)]

    def remove(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)


class PostgresTarget:
    """A real PostgreSQL server (tests/support/postgres.py: fsync, full_page_writes and
    synchronous_commit off; otherwise Debian's defaults)."""

    kind = "postgresql"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> "PostgresTarget":
        from tests.support.postgres import PostgresServer

        self.server = PostgresServer().start()
        self.url = self.server.url
        with self.server.admin_connect() as conn:
            self.server_version = conn.execute("SHOW server_version").fetchone()[0]
            self.settings = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in (
                "shared_buffers", "work_mem", "effective_cache_size", "fsync", "synchronous_commit",
                "full_page_writes", "max_parallel_workers_per_gather", "random_page_cost")}
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.url)

    def load(self, synthetic: Synthetic, chunk: int, log: Callable[[str], None]) -> dict[str, float]:
        open_engine(self.url).dispose()  # migrated: the pipeline's schema
        timings: dict[str, float] = {}
        with self._connect() as conn:
            conn.execute("SET maintenance_work_mem = '2GB'")
            foreign = conn.execute(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE contype = 'f' AND connamespace = 'public'::regnamespace").fetchall()
            indexes = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
                                   "AND indexname LIKE 'ix\\_%'").fetchall()
            for table, name, _definition in foreign:
                conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            for name, _definition in indexes:
                conn.execute(f'DROP INDEX "{name}"')
            conn.commit()
            timings["rows_s"] = self._write_rows(synthetic, chunk, log)
            for table in (trainings, attendance, teaching, media):
                conn.execute(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                             f"(SELECT max(id) FROM {table.name}))")
            conn.commit()
            started = time.perf_counter()
            for name, definition in indexes:
                one = time.perf_counter()
                conn.execute(definition)
                conn.commit()
                log(f"  index {name}: {time.perf_counter() - one:.0f} s")
            timings["indexes_s"] = time.perf_counter() - started
            started = time.perf_counter()
            for table, name, definition in foreign:
                one = time.perf_counter()
                conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
                conn.commit()
                log(f"  foreign key {name}: {time.perf_counter() - one:.0f} s")
            timings["foreign_keys_s"] = time.perf_counter() - started
            started = time.perf_counter()
            conn.autocommit = True
            conn.execute("VACUUM (ANALYZE)")  # the visibility map too, as autovacuum would make it
            timings["analyze_s"] = time.perf_counter() - started
        return timings

    def _write_rows(self, synthetic: Synthetic, chunk: int, log: Callable[[str], None]) -> float:
        """The rows, a chunk per transaction, by two connections at once (each COPYs a
        chunk and has the server expand its attendance while this thread generates the
        next): the server's inserts are the bottleneck, and there are two CPUs."""
        local = threading.local()
        opened: list[Any] = []
        written = 0
        started = time.perf_counter()

        def connection() -> Any:
            if not hasattr(local, "conn"):
                conn = self._connect()
                conn.execute("SET work_mem = '1GB'")  # the expansion's sort, in memory
                for statement in STAGING:
                    conn.execute(statement)
                conn.commit()
                local.conn = conn
                opened.append(conn)
            return local.conn

        def write(rows: dict[str, list[tuple[Any, ...]]], base: int) -> int:
            conn = connection()
            with conn.cursor() as cursor:
                for table in (decisions, trainings, persons, teaching, media):
                    with cursor.copy(f"COPY {table.name} ({', '.join(_columns(table))}) FROM STDIN") as copy:
                        for row in rows[table.name]:
                            copy.write_row(row)
                for staging in (SLOTS, SESSIONS_TABLE):
                    with cursor.copy(f"COPY {staging} FROM STDIN") as copy:
                        for row in rows[staging]:
                            copy.write_row(row)
                cursor.execute(EXPAND_ATTENDANCE_NUMBERED, {"base": base})
                cursor.execute(f"TRUNCATE {SLOTS}, {SESSIONS_TABLE}")
            conn.commit()
            return len(rows["trainings"])

        try:
            with ThreadPoolExecutor(2) as writers:
                pending: deque[Any] = deque()
                for first in range(0, synthetic.packages, chunk):
                    base = synthetic.rows[attendance.name]  # this chunk's attendance ids follow
                    rows = synthetic.chunk(first, min(chunk, synthetic.packages - first))
                    rows[SLOTS] = _numbered(rows[SLOTS])
                    while len(pending) >= 2:
                        done = pending.popleft().result()
                        written += done
                        _progress(log, written, synthetic.packages, started, done)
                    pending.append(writers.submit(write, rows, base))
                while pending:
                    done = pending.popleft().result()
                    written += done
                    _progress(log, written, synthetic.packages, started, done)
        finally:
            for conn in opened:
                conn.close()
        return time.perf_counter() - started

    def size(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])

    def explain(self, statement: str, parameters: Any, analyze: bool = True) -> str:
        with self._connect() as conn:
            rows = conn.execute(("EXPLAIN (ANALYZE, BUFFERS) " if analyze else "EXPLAIN ") + statement,
                                parameters).fetchall()
        return "\n".join(r[0] for r in rows)

    @staticmethod
    def full_scans(plan: str) -> list[str]:
        return [line.strip() for line in plan.splitlines() if "Seq Scan" in line]

    def remove(self) -> None:
        pass  # the server's folder goes with it


def _progress(log: Callable[[str], None], done: int, total: int, started: float, chunk: int) -> None:
    """A line at every tenth of the load (and at its end)."""
    if (done * 10) // total != ((done - chunk) * 10) // total:
        elapsed = time.perf_counter() - started
        log(f"  {done:,}/{total:,} packages loaded, {elapsed:.0f} s, {done / elapsed:,.0f} packages/s")


# -- the samples --------------------------------------------------------------------------------


@dataclass
class Catalogued:
    """A catalogued training's facts, as a sample's source of hits."""

    receipt_id: str
    institution: str
    occupation: str
    level: str
    start: str
    end: str
    trainees: list[tuple[str, str]] = field(default_factory=list)  # (key, date)
    teachers: list[tuple[str, str, float, str]] = field(default_factory=list)  # (key, date, hours, section)
    photos: list[tuple[str, int]] = field(default_factory=list)  # (sha256, unsigned phash)


def catalogued(connection: Any, training_id: int) -> Catalogued:
    t = connection.execute(sqlalchemy.select(trainings).where(trainings.c.id == training_id)).mappings().one()
    found = Catalogued(t["receipt_id"], t["institution"], t["occupation"], t["level"], t["start_date"], t["end_date"])
    found.trainees = [tuple(r) for r in connection.execute(
        sqlalchemy.select(attendance.c.person_key, attendance.c.date).where(attendance.c.training_id == training_id))]
    found.teachers = [tuple(r) for r in connection.execute(
        sqlalchemy.select(teaching.c.person_key, teaching.c.date, teaching.c.hours, teaching.c.section)
        .where(teaching.c.training_id == training_id))]
    found.photos = [(r.sha256, unsigned64(r.phash)) for r in connection.execute(
        sqlalchemy.select(media.c.sha256, media.c.phash).where(media.c.training_id == training_id))]
    return found


def _flip(value: int, bits: int, rng: random.Random) -> int:
    for bit in rng.sample(range(64), bits):
        value ^= 1 << bit
    return value


def _new_key(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def new_package(n: int, source: Catalogued, photo_source: Catalogued, rng: random.Random) -> PackageFacts:
    """A new package of another institution (module docstring, (a))."""
    dates = sorted({d for _, d, _, _ in source.teachers})
    training = TrainingFacts(source.occupation, source.level, source.occupation + source.level, source.start,
                             source.end, ("offline",), ("offline",), TRAINEES)
    borrowed = list(dict.fromkeys(k for k, _ in source.trainees))[:2]
    trainees = borrowed + [_new_key(rng) for _ in range(TRAINEES - len(borrowed))]
    teachers = [source.teachers[0][0], _new_key(rng)]
    people = [PersonFacts(k, "110101********0000", "基准") for k in dict.fromkeys(trainees + teachers)]
    theory = {d: HOURS[rng.randrange(5)] for d in dates}
    practice = {d: HOURS[rng.randrange(5)] for d in dates}
    attended = tuple(Attendance(0, k, d, OFFLINE, theory[d] + practice[d]) for k in trainees for d in dates)
    taught = tuple(Teaching(0, teachers[s], d, (theory, practice)[s][d], ("理论", "实操")[s])
                   for s in range(TEACHERS) for d in dates)
    photos = []
    for i in range(PHOTOS):
        sha, phash = _new_key(rng), rng.getrandbits(64)
        if i == 0:
            sha, phash = photo_source.photos[0]  # byte-identical
        elif i == 1:
            phash = _flip(photo_source.photos[1][1], 2, rng)  # saved again: 2 bits off
        photos.append(MediaFacts(0, f"新{n}/{training.folder}/理论/IMG_{i:04d}.jpg", PHOTO, sha, phash))
    return PackageFacts(f"基准新机构{n}", (training,), tuple(people), attended, taught, tuple(photos))


def _place(training: int, kind: str) -> str:
    """Where a signal is reported (the form of that kind): a path, as the rule wants."""
    return f"training{training}/{kind}.json"


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {"p50": statistics.median(ordered), "p95": at(0.95), "p99": at(0.99), "max": ordered[-1]}


class Statements:
    """The SQL statements an engine executes while recording (for their plans)."""

    def __init__(self, engine: Any) -> None:
        self.recording: str | None = None
        self.seen: dict[str, list[tuple[str, Any]]] = {}
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if self.recording and not statement.lstrip().upper().startswith(("PRAGMA", "BEGIN")):
            self.seen.setdefault(self.recording, []).append((statement, parameters))


def measure(target: Any, samples: int, passes: int, seed: int, log: Callable[[str], None]) -> dict[str, Any]:
    engine = open_engine(target.url)
    statements = Statements(engine)
    lookup = CatalogueLookup(engine)
    rng = random.Random(seed + 1)
    with engine.connect() as connection:
        n_trainings = connection.execute(sqlalchemy.select(sqlalchemy.func.max(trainings.c.id))).scalar_one()
        n_attendance = connection.execute(sqlalchemy.select(sqlalchemy.func.max(attendance.c.id))).scalar_one()
        n_media = connection.execute(sqlalchemy.select(sqlalchemy.func.max(media.c.id))).scalar_one()
        replaced = set(connection.execute(sqlalchemy.select(decisions.c.supersedes)
                                          .where(decisions.c.supersedes.is_not(None))).scalars())

        def live_training() -> Catalogued:
            """A random catalogued training not replaced by a re-check (those are not compared)."""
            while True:
                found = catalogued(connection, rng.randint(1, n_trainings))
                if found.receipt_id not in replaced:
                    return found

        def live_photo() -> int:
            """The hash of a random catalogued photo of a training not replaced by a re-check."""
            while True:
                row = connection.execute(sqlalchemy.select(media.c.phash, trainings.c.receipt_id)
                                         .join(trainings, trainings.c.id == media.c.training_id)
                                         .where(media.c.id == rng.randint(1, n_media))).one()
                if row.receipt_id not in replaced:
                    return unsigned64(row.phash)

        total = samples + 10
        log(f"  preparing {total} samples")
        packages = [new_package(n, live_training(), live_training(), rng) for n in range(total)]
        trace_keys = [connection.execute(sqlalchemy.select(attendance.c.person_key)
                                         .where(attendance.c.id == rng.randint(1, n_attendance))).scalar_one()
                      for _ in range(total)]
        near = []
        for _ in range(total):
            hits = [live_photo() for _ in range(2)]
            phashes = [_flip(h, rng.randint(1, DISTANCE), rng) for h in hits]
            phashes += [rng.getrandbits(64) for _ in range(PHOTOS - 2)]
            near.append(({_new_key(rng) for _ in range(PHOTOS)}, set(phashes), set(hits)))
    engine.dispose()
    # the prepared samples are the bench's, not a worker's: out of the garbage collector's
    # full collections, which would otherwise land in a sample now and then
    gc.collect()
    gc.freeze()

    def timed_pass(record: bool) -> dict[str, Any]:
        """(a), (b) and (c) over the prepared samples; ``record``: keep the last sample's
        statements (for their plans)."""
        signal_ms: list[float] = []
        found_all = 0
        codes: dict[str, int] = {}
        for n, facts in enumerate(packages):
            statements.recording = "signals" if record and n == total - 1 else None
            started = time.perf_counter()
            problems = (list(media_signals(facts, lookup, DISTANCE)) + list(trainee_signals(facts, lookup, _place))
                        + list(teacher_signals(facts, lookup, MAX_HOURS, _place)))
            elapsed = (time.perf_counter() - started) * 1000
            if n >= 10:
                signal_ms.append(elapsed)
                got = {p.code for p in problems}
                for p in problems:
                    codes[p.code] = codes.get(p.code, 0) + 1
                media_hits = sum(p.code == "W_MEDIA_REUSED" for p in problems)
                trainee_hits = sum(p.code == "W_TRAINEE_OVERLAP" for p in problems)
                found_all += (media_hits >= 2 and trainee_hits >= 2 and "W_TEACHER_OVERLAP" in got)
        log(f"  (a) signals: {_fmt(percentiles(signal_ms))}")

        trace_ms: list[float] = []
        trained = 0
        for n, key in enumerate(trace_keys):
            statements.recording = "trace" if record and n == total - 1 else None
            started = time.perf_counter()
            result = trainings_attended(engine, key)
            elapsed = (time.perf_counter() - started) * 1000
            if n >= 10:
                trace_ms.append(elapsed)
                trained += len(result)
        log(f"  (b) trace: {_fmt(percentiles(trace_ms))}")

        media_ms: list[float] = []
        candidates = 0
        near_found = 0
        for n, (shas, phashes, hits) in enumerate(near):
            statements.recording = "media_like" if record and n == total - 1 else None
            started = time.perf_counter()
            seen = lookup.media_like(shas, phashes, DISTANCE)
            elapsed = (time.perf_counter() - started) * 1000
            if n >= 10:
                media_ms.append(elapsed)
                candidates += len(seen)
                near_found += len(hits & {m.phash for m in seen})
        log(f"  (c) media_like: {_fmt(percentiles(media_ms))}")
        statements.recording = None
        return {
            "signals_ms": percentiles(signal_ms), "signals_all_hits_found": f"{found_all}/{samples}",
            "signals_problems_per_package": {c: round(v / samples, 2) for c, v in sorted(codes.items())},
            "trace_ms": percentiles(trace_ms), "trace_trainings_per_person": round(trained / samples, 2),
            "media_like_ms": percentiles(media_ms), "media_like_candidates": round(candidates / samples, 1),
            "media_like_near_found": f"{near_found}/{2 * samples}",
        }

    log("  first pass (the samples' pages not read before)")
    result = timed_pass(record=True)
    if passes > 1:
        log("  again, the same samples (their pages just read: the cache warm for them)")
        result["again"] = [timed_pass(record=False) for _ in range(passes - 1)]
    engine.dispose()
    gc.unfreeze()

    plans = []
    explained: set[str] = set()
    executed_all = [*statements.seen.items(), *report_statements(target.url).items()]
    for what, executed in executed_all:
        for statement, parameters in executed:
            if statement in explained:  # (c)'s query is (a)'s media query
                continue
            explained.add(statement)
            plan = target.explain(statement, parameters, analyze=not what.startswith("integrity report"))
            plans.append({"what": what, "statement": statement, "parameters": parameters, "plan": plan,
                          "full_scans": target.full_scans(plan)})
    unanalyzed = []
    if target.kind == "sqlite":
        # the pipeline never runs ANALYZE on its SQLite file: the plans it gets without statistics
        target.drop_statistics()
        for p in plans:
            plan = target.explain(p["statement"], p["parameters"])
            if plan != p["plan"]:
                unanalyzed.append({**p, "plan": plan, "full_scans": target.full_scans(plan)})
    result.update(plans=plans, plans_without_statistics_that_differ=unanalyzed)
    return result


class _Captured(Exception):
    """Raised by :func:`report_statements`'s listener: the statement is kept, not run."""


def report_statements(url: str) -> dict[str, list[tuple[str, Any]]]:
    """The SELECTs of `pipeline integrity report --since <the last day>` (the three pair
    queries of pipeline/catalogue/inspection.py), captured as executed but not run: their
    plans (EXPLAIN without ANALYZE) show what the report would cost at this size."""
    engine = open_engine(url)
    captured: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "pragma" not in statement.lower():
            captured.append((statement, parameters))
            raise _Captured

    try:
        with engine.connect() as connection:
            since = connection.execute(sqlalchemy.select(sqlalchemy.func.max(decisions.c.decided_ts))).scalar_one()
        since -= 86400
        event.listen(engine, "before_cursor_execute", grab)
        out = {}
        for what, run in (("integrity report --since (media pairs)",
                           lambda: list(media_pairs(engine, DISTANCE, since))),
                          ("integrity report --since (trainee pairs)", lambda: list(trainee_pairs(engine, since))),
                          ("integrity report --since (teacher pairs)",
                           lambda: list(teacher_pairs(engine, MAX_HOURS, since)))):
            captured.clear()
            try:
                run()
            except Exception:  # noqa: BLE001 - the listener's _Captured, however SQLAlchemy wraps it
                pass
            out[what] = list(captured)
        return out
    finally:
        engine.dispose()


def _fmt(p: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.1f} ms" for k, v in p.items())


# -- the run ------------------------------------------------------------------------------------


def run_one(kind: str, args: argparse.Namespace, folder: Path, log: Callable[[str], None]) -> dict[str, Any]:
    target_class = SqliteTarget if kind == "sqlite" else PostgresTarget
    with target_class(args.reuse or folder) as target:
        try:
            load_average = [os.getloadavg()[0]]
            if args.reuse:  # a catalogue a --keep run left: measured again, not loaded
                rows, timings = target.rows(), {}
                log(f"{kind}: the catalogue in {args.reuse} again ({rows['decisions']:,} packages)")
                args.packages = rows["decisions"]
            else:
                synthetic = Synthetic(args.packages, args.seed)
                log(f"{kind}: loading {args.packages:,} packages")
                started = time.perf_counter()
                timings = target.load(synthetic, args.chunk, log)
                timings["total_s"] = time.perf_counter() - started
                log(f"{kind}: loaded in {timings['total_s']:.0f} s ({_timings(timings)})")
                rows = dict(synthetic.rows)
                del synthetic
            load_average.append(os.getloadavg()[0])
            size = target.size()
            result = {"database": kind, "code": args.code, "server_version": target.server_version,
                      "packages": args.packages,
                      "rows": rows, "load": timings, "bytes": size,
                      "bytes_per_package": size / args.packages,
                      "settings": getattr(target, "settings", None)}
            result.update(measure(target, args.samples, args.passes, args.seed, log))
            result["load_average"] = [*load_average, os.getloadavg()[0]]
            return result
        finally:
            if not args.keep and not args.reuse:
                target.remove()


def _timings(timings: dict[str, float]) -> str:
    return ", ".join(f"{k[:-2]} {v:.0f} s" for k, v in timings.items())


def code_version() -> str:
    """The commit the pipeline's code is at, and the files of pipeline/ changed since (the
    code measured is the working tree's)."""
    def git(*argv: str) -> str:
        return subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()

    head = git("log", "-1", "--format=%h %s")
    dirty = git("status", "--porcelain", "--", "pipeline").splitlines()
    return (f"`{head[:90]}`" + (", with uncommitted changes in " + ", ".join(f"`{d[3:]}`" for d in dirty)
                                if dirty else ", no uncommitted changes in pipeline/"))


def append_results(text: str) -> None:
    """Add ``text`` to today's bench/results/catalogue-<date>.md (both catalogue benches)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"catalogue-{date.today().isoformat()}.md"
    with open(path, "a", encoding="utf-8") as f:
        f.write(text + "\n")
    print(f"appended to {path.relative_to(REPO)}", file=sys.stderr, flush=True)


def machine() -> dict[str, str]:
    meminfo = Path("/proc/meminfo").read_text()
    total_kb = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    import psycopg

    return {"nproc": str(os.cpu_count()), "cpu": cpu, "ram": f"{total_kb / 1024 / 1024:.1f} GiB",
            "kernel": platform.release(), "python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version,
            "sqlalchemy": sqlalchemy.__version__, "psycopg": psycopg.__version__}


def markdown(results: list[dict[str, Any]], facts: dict[str, str], command: str, note: str) -> str:
    out = [f"## Catalogue at scale, {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}", "",
           f"Command: `{command}`", "",
           "Machine: " + ", ".join(f"{k} {v}" for k, v in facts.items()), "",
           f"Code measured (at the start): {results[0]['code'] if results else code_version()}", ""]
    if note:
        out += [note, ""]
    for r in results:
        rows = r["rows"]
        out += [f"### {r['database']} {r['server_version']}: {r['packages']:,} packages", "",
                "Rows: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()), "",
                (f"Load: {_timings(r['load'])}; "
                 f"{r['packages'] / r['load']['total_s']:,.0f} packages/s, "
                 f"{sum(rows.values()) / r['load']['rows_s']:,.0f} rows/s while inserting" if r["load"]
                 else "Load: none (--reuse: the catalogue an earlier --keep run loaded)"), ""]
        if r.get("load_average"):
            before, loaded, measured = r["load_average"]
            out += [f"Load average (1 min; 2 CPUs, the load uses one to two): {before:.1f} at the start, "
                    f"{loaded:.1f} after the load, {measured:.1f} after the measurements", ""]
        if r.get("settings"):
            out += ["Server settings: " + ", ".join(f"{k}={v}" for k, v in r["settings"].items())
                    + " (fsync off: the test server's; a production server syncs, which costs the load, "
                      "not the reads measured here)", ""]
        out += ["| measurement | samples | p50 | p95 | p99 | max | notes |", "|---|---|---|---|---|---|---|"]

        def line(what: str, p: dict[str, float], notes: str, samples: int = r["samples"]) -> str:
            return (f"| {what} | {samples} | {p['p50']:.1f} ms | {p['p95']:.1f} ms | {p['p99']:.1f} ms | "
                    f"{p['max']:.1f} ms | {notes} |")

        signals = r["signals_ms"]
        verdict = "meets" if signals["p95"] < 50 else "MISSES"
        out.append(line("(a) signals of one new package", signals,
                        f"{verdict} the 50 ms p95 target; all planted hits found in {r['signals_all_hits_found']}; "
                        f"problems per package {r['signals_problems_per_package']}"))
        out.append(line("(b) trace (trainings_attended)", r["trace_ms"],
                        f"{r['trace_trainings_per_person']} trainings per person"))
        out.append(line("(c) media_like, 10 photos, distance 3", r["media_like_ms"],
                        f"{r['media_like_candidates']} rows returned per call; near photos found "
                        f"{r['media_like_near_found']}"))
        for n, again in enumerate(r.get("again", []), start=2):
            warm = f"pass {n}, the same samples again (their pages read in pass {n - 1})"
            out.append(line("(a) signals, again", again["signals_ms"], warm))
            out.append(line("(b) trace, again", again["trace_ms"], warm))
            out.append(line("(c) media_like, again", again["media_like_ms"], warm))
        out += ["", f"(d) size: {r['bytes'] / 1024 ** 3:.2f} GiB, **{r['bytes_per_package'] / 1024:.1f} KiB per "
                    "package**" + (" (file + WAL after a checkpoint)" if r["database"] == "sqlite"
                                   else " (pg_database_size)"), ""]
        for title, report in (("the per-package queries (a)–(c)", False), ("the integrity report's queries", True)):
            scans = [(p["what"], s) for p in r["plans"] for s in p["full_scans"]
                     if p["what"].startswith("integrity report") == report]
            out += [f"Full scans in {title}: " + ("; ".join(f"{w}: `{s}`" for w, s in scans) if scans else "none"),
                    ""]
        if r["database"] == "sqlite":
            differ = r["plans_without_statistics_that_differ"]
            out += ["Plans without ANALYZE's statistics (the pipeline never runs ANALYZE on its SQLite file): "
                    + (f"{len(differ)} differ (below)" if differ else "the same as with them"), ""]
        out += ["<details><summary>Query plans</summary>", ""]
        for p in r["plans"]:
            statement = re.sub(r"\s+", " ", p["statement"])
            if len(statement) > 600:
                statement = statement[:600] + " …"
            plan = "\n".join(line if len(line) <= 300 else line[:300] + " …" for line in p["plan"].splitlines())
            out += [f"**{p['what']}**: `{statement}`", "", "```", plan, "```", ""]
        for p in r.get("plans_without_statistics_that_differ", []):
            out += [f"**{p['what']}, without statistics**:", "", "```", p["plan"], "```", ""]
        out += ["</details>", ""]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=int, default=1_000_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--passes", type=int, default=2,
                        help="timed passes over the samples: the first reads their pages for the first time, "
                             "the others again")
    parser.add_argument("--chunk", type=int, default=10_000, help="packages generated and written at a time")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--workdir", type=Path, default=None, help="where the SQLite file goes (default: /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file")
    parser.add_argument("--reuse", type=Path, default=None,
                        help="measure the SQLite catalogue a --keep run left in this folder, without loading")
    parser.add_argument("--note", default="", help="a line for the results file")
    parser.add_argument("--no-results", action="store_true", help="do not append to bench/results/")
    args = parser.parse_args()
    args.code = code_version()  # now: the modules are imported, a commit made later is not measured

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    folder = Path(tempfile.mkdtemp(prefix="catalogue-scale-", dir=args.workdir))
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    if args.reuse and kinds != ["sqlite"]:
        parser.error("--reuse measures a SQLite catalogue: give --database sqlite")
    results = []
    try:
        for kind in kinds:
            result = run_one(kind, args, folder, log)
            result["samples"] = args.samples
            results.append(result)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    command = ".venv/bin/python -m bench.catalogue_scale " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    text = markdown(results, machine(), command, args.note)
    print(text)
    if not args.no_results:
        append_results(text)


def query_plan(rows: list[tuple[Any, ...]]) -> str:
    """SQLite's EXPLAIN QUERY PLAN rows as an indented tree."""
    depth: dict[int, int] = {0: -1}
    lines = []
    for node, parent, _unused, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + detail)
    return "\n".join(lines)


if __name__ == "__main__":
    main()

