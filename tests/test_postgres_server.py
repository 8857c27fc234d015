"""The throwaway PostgreSQL server of the tests (tests/support/postgres.py) is a real one."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import sqlalchemy

from tests.support.postgres import PostgresServer


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


def test_url_connects_with_psycopg_and_durability_is_off(postgres: PostgresServer) -> None:
    parts = urlsplit(postgres.url)
    assert (parts.scheme, parts.hostname, parts.port, parts.path) == ("postgresql", "127.0.0.1", postgres.port,
                                                                      "/catalogue")
    assert parts.username and parts.password
    with psycopg.connect(postgres.url, connect_timeout=5) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        assert conn.execute("select current_user, current_database()").fetchone() == (parts.username, "catalogue")
        for setting in ("fsync", "full_page_writes", "synchronous_commit"):
            assert conn.execute(f"show {setting}").fetchone() == ("off",), setting


def test_the_password_is_checked(postgres: PostgresServer) -> None:
    wrong = postgres.url.replace(f":{postgres.password}@", ":not-the-password@")
    assert wrong != postgres.url
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5).close()


def test_fresh_databases_are_separate(postgres: PostgresServer) -> None:
    first, second = postgres.fresh_database("fresh_one"), postgres.fresh_database()
    assert first != second and first.endswith("/fresh_one") and first != postgres.url
    with psycopg.connect(first, autocommit=True) as conn:
        assert conn.execute("select to_regclass('public.uploads')").fetchone() == (None,)
        conn.execute("create table uploads (id integer primary key)")
        conn.execute("insert into uploads values (1)")
        assert conn.execute("select count(*) from uploads").fetchone() == (1,)
    with psycopg.connect(second) as conn:
        assert conn.execute("select to_regclass('public.uploads')").fetchone() == (None,)
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("select * from uploads")
    with psycopg.connect(postgres.url) as conn:
        assert conn.execute("select to_regclass('public.uploads')").fetchone() == (None,)


def test_sqlalchemy_connects(postgres: PostgresServer) -> None:
    engine = sqlalchemy.create_engine(postgres.url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("select 1")).scalar_one() == 1
            assert conn.execute(sqlalchemy.text("select current_database()")).scalar_one() == "catalogue"
    finally:
        engine.dispose()


def test_stop_shuts_the_server_down_and_removes_its_folder() -> None:
    with PostgresServer() as server:
        root, port = server.root, server.port
        assert isinstance(root, Path) and (root / "data" / "PG_VERSION").is_file()
        with psycopg.connect(server.url, connect_timeout=5) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
    assert not root.exists()
    assert server.proc is None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
