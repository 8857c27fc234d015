"""Opening the catalogue: the engine for a URL, and the migrations run at start.

``sqlite:///PATH`` (the embedded default, ``<data dir>/catalogue.sqlite3``) is opened in WAL
mode, so the watcher, every worker process and the operator's commands read while one
writes, with a busy timeout instead of "database is locked". ``postgresql://user:password@
host:port/dbname`` (the usual form) is driven by psycopg 3.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: the newest migration's revision. Every process opening the catalogue compares the
#: database's with it in plain SQL, so Alembic (a quarter of a second of imports in each
#: watcher, worker and command) is loaded only to migrate; tests/test_catalogue_db.py
#: holds it equal to the newest script's.
HEAD_REVISION = "0002"
#: how long a SQLite writer waits for another's lock before giving up, milliseconds
SQLITE_BUSY_MS = 30_000


class CatalogueUrlError(ValueError):
    """DATABASE_URL is not one the catalogue can use."""


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy URL of a ``DATABASE_URL``: ``postgresql://`` (and Heroku's ``postgres://``)
    go through psycopg 3; ``sqlite:///`` as is."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    if url.startswith(("postgresql+psycopg://", "sqlite://")):
        return url
    raise CatalogueUrlError("DATABASE_URL must be postgresql://user:password@host:port/dbname or "
                            f"sqlite:///path, not {redacted(url)!r}")


def redacted(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # the driver's own transaction handling off: SQLAlchemy's "begin" event below emits BEGIN
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints, never corrupt
    cursor.close()
    # the Hamming distance of two signed 64-bit hashes, for the near-duplicate search
    # (pipeline/catalogue/lookup.py); PostgreSQL has bit_count
    dbapi_connection.create_function("hamming64", 2, _hamming64, deterministic=True)


def _hamming64(a: int | None, b: int | None) -> int | None:
    if a is None or b is None:
        return None
    return ((a ^ b) & 0xFFFF_FFFF_FFFF_FFFF).bit_count()


def _sqlite_begin(connection: Any) -> None:
    """A writer's transaction takes the write lock at its start (BEGIN IMMEDIATE), waiting
    up to the busy timeout: a deferred one that read first could only fail on "database is
    locked" when it came to write. Readers begin deferred and never wait (WAL)."""
    immediate = connection.get_execution_options().get(WRITER_OPTION)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


#: Alembic keeps its migration context in module globals: one migration per process at once
_MIGRATING = threading.Lock()

#: the execution option of a writing engine (:func:`writer`)
WRITER_OPTION = "catalogue_writer"


def writer(engine: Engine) -> Engine:
    """``engine`` for transactions that write (on SQLite: BEGIN IMMEDIATE)."""
    return engine.execution_options(**{WRITER_OPTION: True})


def make_engine(url: str) -> Engine:
    """The engine of ``url`` (not migrated: :func:`open_engine`)."""
    target = sqlalchemy_url(url)
    if target.startswith("sqlite"):
        path = target.split("///", 1)[1] if "///" in target else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # NullPool: a connection per use; SQLite opens in microseconds and a pooled one
        # would cross the threads of a worker process
        engine = create_engine(target, poolclass=NullPool)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(target, pool_pre_ping=True, pool_size=4, max_overflow=4)


def _config(connection: Any) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest migration script's revision, as Alembic reads the scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config(None)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The database's revision (Alembic's one-row table), None when it has none yet."""
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:  # no such table: a new database
        return None


def migrate(engine: Engine) -> None:
    """Bring the database to the newest migration (nothing when it is there). Safe to run
    from several processes at once: on PostgreSQL an advisory lock serialises them; on
    SQLite the first writer holds the file's lock."""
    if current_revision(engine) == HEAD_REVISION:
        return
    head = head_revision()
    if current_revision(engine) == head:
        return
    with _MIGRATING:  # Alembic's context is one per process: one migration at a time in it
        if current_revision(engine) == head:
            return
        _upgrade(engine, head)


def _upgrade(engine: Engine, head: str | None) -> None:
    try:
        with writer(engine).begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("SELECT pg_advisory_xact_lock(1729017)")
            from alembic import command

            command.upgrade(_config(connection), "head")
    except Exception:
        # SQLite: another process migrated between our look and our write (its tables
        # exist now); anything else is a real failure
        if current_revision(engine) != head:
            raise


def open_engine(url: str) -> Engine:
    """The engine of ``url``, migrated to the newest schema."""
    engine = make_engine(url)
    migrate(engine)
    return engine
