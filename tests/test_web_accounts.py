"""The web application's logins and audit trail in the catalogue database
(pipeline/catalogue/web_accounts.py, migration 0002), its password hashing
(pipeline/web/passwords.py) and the `pipeline web-user` command (pipeline/app/web_cli.py),
on the embedded SQLite file and on a real PostgreSQL server."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from pipeline.catalogue.database import (MIGRATIONS, current_revision, head_revision, make_engine, migrate,
                                         open_engine, writer)
from pipeline.catalogue.schema import metadata, web_audit
from pipeline.catalogue.web_accounts import ROLES, WebAccounts
from pipeline.web.passwords import (MIN_PASSWORD_LENGTH, hash_password, needs_rehash, password_problem,
                                    verify_password)

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 12, 1, 9, 0, 0, tzinfo=CST)
PASSWORD = "星火-correct-horse"


@pytest.fixture(scope="module")
def a_hash() -> str:
    return hash_password(PASSWORD)  # argon2 takes a while: once for the module


# -- the tables ------------------------------------------------------------------------------
def test_the_web_tables_are_migrated_as_the_schema_says(catalogue_url: str):
    engine = open_engine(catalogue_url)
    assert current_revision(engine) == head_revision() == "0002"
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)
        names = set(metadata.tables)
    assert diff == [] and {"web_users", "web_audit"} <= names


def _alembic(engine, verb, revision: str) -> None:
    with writer(engine).begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        getattr(command, verb)(config, revision)


def test_a_catalogue_of_the_first_migration_gets_the_web_tables(catalogue_url: str):
    engine = make_engine(catalogue_url)
    _alembic(engine, "upgrade", "0001")  # a catalogue made before the web application
    assert current_revision(engine) == "0001" and "web_users" not in inspect(engine).get_table_names()
    migrate(engine)  # what the next start does
    assert current_revision(engine) == "0002"
    assert {"web_users", "web_audit"} <= set(inspect(engine).get_table_names())
    _alembic(engine, "downgrade", "0001")
    assert current_revision(engine) == "0001"
    assert not {"web_users", "web_audit"} & set(inspect(engine).get_table_names())
    engine.dispose()


def test_a_login_is_created_updated_disabled_and_enabled_again(catalogue_url: str, a_hash: str):
    accounts = WebAccounts(open_engine(catalogue_url))
    assert accounts.get("xinghuo-clerk") is None and accounts.all() == []
    made = accounts.put("xinghuo-clerk", "institution", "xinghuo", a_hash, T0)
    assert made == {"name": "xinghuo-clerk", "role": "institution", "account": "xinghuo", "password_hash": a_hash,
                    "created_at": "2026-12-01T09:00:00+08:00", "updated_at": "2026-12-01T09:00:00+08:00",
                    "disabled_at": None}
    accounts.put("wang", "inspector", None, a_hash, T0)

    assert accounts.disable("xinghuo-clerk", T0 + timedelta(days=1)) is True
    assert accounts.disable("nobody", T0) is False
    disabled = accounts.get("xinghuo-clerk")
    assert disabled is not None and disabled["disabled_at"] == "2026-12-02T09:00:00+08:00"
    # disabling again keeps the first time
    assert accounts.disable("xinghuo-clerk", T0 + timedelta(days=5)) is True
    assert accounts.get("xinghuo-clerk")["disabled_at"] == "2026-12-02T09:00:00+08:00"  # type: ignore[index]

    # an update (a new password, another account) enables it again and keeps created_at
    other = hash_password("another password 123")
    again = accounts.put("xinghuo-clerk", "institution", "xinghuo2", other, T0 + timedelta(days=7))
    assert again["disabled_at"] is None and again["account"] == "xinghuo2" and again["password_hash"] == other
    assert again["created_at"] == "2026-12-01T09:00:00+08:00"
    assert again["updated_at"] == "2026-12-08T09:00:00+08:00"

    listed = accounts.all()
    assert [u["name"] for u in listed] == ["wang", "xinghuo-clerk"]  # ordered by name
    assert all("password_hash" not in u for u in listed)
    assert listed[0] == {"name": "wang", "role": "inspector", "account": None,
                         "created_at": "2026-12-01T09:00:00+08:00", "updated_at": "2026-12-01T09:00:00+08:00",
                         "disabled_at": None}


@pytest.mark.parametrize("name, role, account, words", [
    ("x", "admin", None, "unknown role 'admin'"),
    ("x", "institution", None, "needs the institution registry account"),
    ("x", "institution", "  ", "needs the institution registry account"),
    ("x", "operator", "xinghuo", "bound to no account"),
    ("x", "inspector", "xinghuo", "bound to no account"),
    ("", "operator", None, "needs a name"),
    ("two words", "operator", None, "without spaces"),
    ("n" * 65, "operator", None, "at most 64"),
])
def test_a_login_with_a_wrong_role_or_account_is_refused(tmp_path: Path, a_hash: str, name, role, account, words):
    accounts = WebAccounts(open_engine(f"sqlite:///{tmp_path / 'c.sqlite3'}"))
    with pytest.raises(ValueError, match=words):
        accounts.put(name, role, account, a_hash, T0)
    assert accounts.all() == []
    assert set(ROLES) == {"institution", "operator", "inspector"}


def test_only_a_hash_is_stored_and_times_carry_their_offset(tmp_path: Path, a_hash: str):
    accounts = WebAccounts(open_engine(f"sqlite:///{tmp_path / 'c.sqlite3'}"))
    with pytest.raises(ValueError, match="argon2 hash"):
        accounts.put("ops", "operator", None, PASSWORD, T0)  # a password, not its hash
    with pytest.raises(ValueError, match="offset"):
        accounts.put("ops", "operator", None, a_hash, datetime(2026, 12, 1, 9, 0))
    assert accounts.get("ops") is None


def test_the_audit_trail_is_read_newest_first_with_its_detail(catalogue_url: str):
    accounts = WebAccounts(open_engine(catalogue_url))
    accounts.audit(T0, "xinghuo-clerk", "institution", "login")
    accounts.audit(T0 + timedelta(minutes=2), "wang", "inspector", "reveal-id", receipt_id="R20261201-AAAA0001",
                   detail={"person": "张三", "masked": "110101********1234", "reason": "核查培训真实性"})
    accounts.audit(T0 + timedelta(minutes=1), "wang", "inspector", "view-package", receipt_id="R20261201-AAAA0001")
    accounts.audit(T0 + timedelta(minutes=3), "x" * 200, "institution", "login-failed")
    log = accounts.audit_log()
    assert [e["action"] for e in log] == ["login-failed", "reveal-id", "view-package", "login"]
    assert log[0]["user_name"] == "x" * 64  # what was typed, cut to its column
    reveal = log[1]
    assert reveal["detail"] == {"person": "张三", "masked": "110101********1234", "reason": "核查培训真实性"}
    assert reveal["at"] == "2026-12-01T09:02:00+08:00" and reveal["ts"] == (T0 + timedelta(minutes=2)).timestamp()
    assert log[2]["detail"] is None and log[3]["receipt_id"] is None
    # one receipt's records, and a limit
    assert [e["action"] for e in accounts.audit_log(receipt_id="R20261201-AAAA0001")] == ["reveal-id", "view-package"]
    assert [e["action"] for e in accounts.audit_log(limit=2)] == ["login-failed", "reveal-id"]
    # the JSON is kept readable (ensure_ascii=False): the Chinese text as it is
    with accounts.engine.connect() as connection:
        stored = connection.execute(web_audit.select().where(web_audit.c.action == "reveal-id")).mappings().one()
    assert "张三" in stored["detail"] and "\\u" not in stored["detail"]
    with pytest.raises(ValueError, match="audit action"):
        accounts.audit(T0, "wang", "inspector", "a" * 33)


# -- passwords -------------------------------------------------------------------------------
def test_a_password_verifies_against_its_hash_only(a_hash: str):
    assert a_hash.startswith("$argon2id$") and PASSWORD not in a_hash
    assert verify_password(a_hash, PASSWORD) is True
    assert verify_password(a_hash, PASSWORD + "x") is False
    assert verify_password(a_hash, "") is False
    assert hash_password(PASSWORD) != a_hash  # a new salt each time
    for garbage in ("garbage", "", "$argon2id$v=19$m=65536,t=3,p=4$zzz", None):
        assert verify_password(garbage, PASSWORD) is False  # type: ignore[arg-type]
    assert needs_rehash(a_hash) is False
    assert needs_rehash("$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHQ$" + "A" * 43) is True
    assert needs_rehash("garbage") is True


def test_a_short_password_is_refused_in_chinese():
    assert MIN_PASSWORD_LENGTH == 10
    assert password_problem("123456789") == "密码至少 10 个字符"
    assert password_problem("") == "密码至少 10 个字符"
    assert password_problem("一二三四五六七八九十") is None  # characters, not bytes
    assert password_problem("0123456789") is None


def test_on_a_terminal_the_password_is_asked_twice(monkeypatch: pytest.MonkeyPatch):
    from pipeline.app import web_cli

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal(""))
    answers = iter(["first password", "other password"])
    monkeypatch.setattr(web_cli.getpass, "getpass", lambda prompt="": next(answers))
    assert web_cli._read_password() is None
    answers = iter(["same password!", "same password!"])
    assert web_cli._read_password() == "same password!"
    monkeypatch.setattr(sys, "stdin", io.StringIO("from a pipe  \r\nsecond line\n"))
    assert web_cli._read_password() == "from a pipe  "  # the first line, only its line end dropped


# -- the command -----------------------------------------------------------------------------
REGISTRY = """[[institution]]
name = "新城区星火职业培训学校"
email = ["office@xinghuo.example"]
accounts = ["xinghuo"]
"""


def test_the_web_user_command(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "institutions.toml").write_text(REGISTRY, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "PIPELINE_CATALOGUE_KEY")}
    env.update(PIPELINE_DATA_DIR=str(data), PIPELINE_INSTITUTIONS=str(tmp_path / "institutions.toml"))
    entry = ["-m", "pipeline"]

    def run(*args: str, password: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, *entry, "web-user", *args], env=env, input=password,
                              capture_output=True, text=True, timeout=120)

    added = run("add", "xinghuo-clerk", "--role", "institution", "--account", "xinghuo", password=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert "xinghuo-clerk" in added.stdout and "新城区星火职业培训学校" in added.stdout
    ops = run("add", "ops", "--role", "operator", password="operator-password-1\n")
    assert ops.returncode == 0, ops.stderr

    unknown = run("add", "stranger", "--role", "institution", "--account", "nosuch", password=PASSWORD + "\n")
    assert unknown.returncode == 2 and "no account 'nosuch'" in unknown.stderr
    short = run("add", "shorty", "--role", "operator", password="short\n")
    assert short.returncode == 2 and "密码至少 10 个字符" in short.stderr
    no_account = run("add", "lost", "--role", "institution", password=PASSWORD + "\n")
    assert no_account.returncode == 2 and "needs the institution registry account" in no_account.stderr
    operator_with_account = run("add", "op2", "--role", "operator", "--account", "xinghuo",
                                password=PASSWORD + "\n")
    assert operator_with_account.returncode == 2 and "bound to no account" in operator_with_account.stderr
    bad_role = run("add", "x", "--role", "admin", password=PASSWORD + "\n")
    assert bad_role.returncode == 2

    listed = run("list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "$argon2" not in listed.stdout and "password_hash" not in listed.stdout
    users = json.loads(listed.stdout)
    assert [(u["name"], u["role"], u["account"], u["disabled_at"]) for u in users] == [
        ("ops", "operator", None, None), ("xinghuo-clerk", "institution", "xinghuo", None)]
    text = run("list")
    assert text.returncode == 0 and "xinghuo-clerk" in text.stdout and "$argon2" not in text.stdout

    # the stored hash is of the password given on standard input, line end dropped
    accounts = WebAccounts(open_engine(f"sqlite:///{data / 'catalogue.sqlite3'}"))
    stored = accounts.get("xinghuo-clerk")
    assert stored is not None and verify_password(stored["password_hash"], PASSWORD)

    disabled = run("disable", "xinghuo-clerk")
    assert disabled.returncode == 0, disabled.stderr
    assert run("disable", "nobody").returncode == 2
    after = {u["name"]: u for u in json.loads(run("list", "--json").stdout)}
    assert after["xinghuo-clerk"]["disabled_at"] is not None and after["ops"]["disabled_at"] is None

    # add again: a new password, enabled again, created_at kept
    again = run("add", "xinghuo-clerk", "--role", "institution", "--account", "xinghuo",
                password="a new password 456\n")
    assert again.returncode == 0 and again.stdout.startswith("updated")
    renewed = accounts.get("xinghuo-clerk")
    assert renewed is not None and renewed["disabled_at"] is None
    assert renewed["created_at"] == stored["created_at"]
    assert verify_password(renewed["password_hash"], "a new password 456")
    assert not verify_password(renewed["password_hash"], PASSWORD)
