"""Insert-or-ignore and insert-or-update, in the dialect of the connection (SQLite and
PostgreSQL both say ``INSERT ... ON CONFLICT``; SQLAlchemy has one construct per dialect)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def _insert(connection: Connection, table: Table) -> Any:
    module = postgresql if connection.dialect.name == "postgresql" else sqlite
    return module.insert(table)


def insert_ignoring(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]],
                    keys: Sequence[str]) -> int:
    """Insert ``rows``, skipping those whose ``keys`` exist. Of one row: 1 if it was
    inserted, else 0; of several (one executemany): 0 (drivers do not count them alike)."""
    if not rows:
        return 0
    statement = _insert(connection, table).on_conflict_do_nothing(index_elements=list(keys))
    if len(rows) == 1:
        # RETURNING tells an insert from a conflict (psycopg's rowcount here is -1)
        returned = connection.execute(statement.returning(*(table.c[k] for k in keys)), dict(rows[0]))
        return len(returned.all())
    connection.execute(statement, [dict(row) for row in rows])
    return 0


def upsert(connection: Connection, table: Table, row: Mapping[str, Any], keys: Sequence[str],
           changes: Mapping[str, Any]) -> None:
    """Insert ``row``, or apply ``changes`` to the row with its ``keys``."""
    statement = _insert(connection, table).values(dict(row))
    connection.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=dict(changes)))
