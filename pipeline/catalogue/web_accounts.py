"""The web application's logins and its audit trail, in the catalogue database (tables
``web_users`` and ``web_audit``, migration 0002).

A login has a role: ``institution`` (bound to one account of the institution registry:
it sees that account's packages only), ``operator`` or ``inspector`` (bound to none). Its
password is kept as an argon2 hash only (made by :mod:`pipeline.web.passwords`; this room
stores the string and never sees a password). A login is disabled, never deleted: the
audit trail names it, and ``put`` of the same name enables it again.

The audit trail records what web users did (a package viewed, an ID number revealed, a
requeue, a sign-in and a failed one), newest first when read.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select, update

from pipeline.catalogue.database import writer
from pipeline.catalogue.schema import web_audit, web_users
from pipeline.catalogue.upsert import upsert

#: the roles of a web login
ROLES = ("institution", "operator", "inspector")
#: the longest login name and audit action the columns hold
NAME_MAX, ACTION_MAX = 64, 32

_PUBLIC = (web_users.c.name, web_users.c.role, web_users.c.account, web_users.c.created_at,
           web_users.c.updated_at, web_users.c.disabled_at)


def _iso(at: datetime) -> str:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("the time must carry its offset (a timezone-aware datetime)")
    return at.isoformat(timespec="seconds")


def check_login(name: str, role: str, account: str | None) -> tuple[str, str | None]:
    """The login's name and account as they are stored (stripped; an empty account is
    none), or ValueError saying what is wrong: a name that is empty, longer than 64
    characters or holds spaces; an unknown role; an institution login without an
    account, or another login with one."""
    name = (name or "").strip()
    if not name:
        raise ValueError("a web login needs a name")
    if len(name) > NAME_MAX or any(c.isspace() or not c.isprintable() for c in name):
        raise ValueError(f"web login name {name!r} must be at most {NAME_MAX} characters, "
                         "without spaces or control characters")
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    account = (account or "").strip() or None
    if role == "institution" and account is None:
        raise ValueError("an institution login needs the institution registry account it is bound to")
    if role != "institution" and account is not None:
        raise ValueError(f"an {role} login is bound to no account (only institution logins are)")
    return name, account


class WebAccounts:
    """The web logins and the audit trail in the catalogue database (module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = writer(engine)

    # -- logins ----------------------------------------------------------------------------
    def put(self, name: str, role: str, account: str | None, password_hash: str, at: datetime) -> dict[str, Any]:
        """Create the login ``name``, or update it (role, account, password): an update
        enables a disabled login again and keeps its ``created_at``. ValueError for an
        unknown role, an institution login without an account or another with one."""
        name, account = check_login(name, role, account)
        if not isinstance(password_hash, str) or not password_hash.startswith("$argon2"):
            raise ValueError("the password must be given as its argon2 hash (pipeline.web.passwords.hash_password)")
        when = _iso(at)
        row = {"name": name, "role": role, "account": account, "password_hash": password_hash,
               "created_at": when, "updated_at": when, "disabled_at": None}
        with self._writer.begin() as connection:
            upsert(connection, web_users, row, ["name"],
                   {"role": role, "account": account, "password_hash": password_hash, "updated_at": when,
                    "disabled_at": None})
        found = self.get(name)
        assert found is not None
        return found

    def get(self, name: str) -> dict[str, Any] | None:
        """The login ``name`` with its password hash (name, role, account, password_hash,
        created_at, updated_at, disabled_at), or None."""
        with self.engine.connect() as connection:
            row = connection.execute(select(*_PUBLIC, web_users.c.password_hash)
                                     .where(web_users.c.name == name)).mappings().first()
        return dict(row) if row else None

    def all(self) -> list[dict[str, Any]]:
        """Every login ordered by name, without the password hash."""
        with self.engine.connect() as connection:
            return [dict(row) for row in connection.execute(select(*_PUBLIC).order_by(web_users.c.name)).mappings()]

    def disable(self, name: str, at: datetime) -> bool:
        """Disable the login ``name`` (it can no longer sign in); False if there is no such
        login. A login already disabled keeps the time it was disabled at."""
        when = _iso(at)
        with self._writer.begin() as connection:
            connection.execute(update(web_users)
                               .where(web_users.c.name == name, web_users.c.disabled_at.is_(None))
                               .values(disabled_at=when, updated_at=when))
            return connection.execute(select(web_users.c.name).where(web_users.c.name == name)).first() is not None

    # -- the audit trail -------------------------------------------------------------------
    def audit(self, at: datetime, user_name: str, role: str, action: str, receipt_id: str | None = None,
              detail: dict[str, Any] | None = None) -> None:
        """Record that ``user_name`` (in ``role``) did ``action`` (``view-package``,
        ``reveal-id``, ``requeue``, ``login``, ``login-failed``, …) at ``at``, on
        ``receipt_id`` if any, with ``detail`` (kept as JSON). The user name is cut to
        its column's 64 characters (a failed sign-in's is whatever was typed)."""
        if not action or len(action) > ACTION_MAX:
            raise ValueError(f"an audit action is 1 to {ACTION_MAX} characters, not {action!r}")
        row = {"at": _iso(at), "ts": at.timestamp(), "user_name": (user_name or "")[:NAME_MAX], "role": role,
               "action": action, "receipt_id": receipt_id,
               "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail is not None else None}
        with self._writer.begin() as connection:
            connection.execute(web_audit.insert(), row)

    def audit_log(self, limit: int = 100, receipt_id: str | None = None) -> list[dict[str, Any]]:
        """The latest ``limit`` audit records (of ``receipt_id`` only, if given), newest
        first; ``detail`` as the dict recorded (or None)."""
        statement = select(web_audit.c.id, web_audit.c.at, web_audit.c.ts, web_audit.c.user_name, web_audit.c.role,
                           web_audit.c.action, web_audit.c.receipt_id, web_audit.c.detail)
        if receipt_id is not None:
            statement = statement.where(web_audit.c.receipt_id == receipt_id)
        statement = statement.order_by(web_audit.c.ts.desc(), web_audit.c.id.desc()).limit(max(0, int(limit)))
        with self.engine.connect() as connection:
            rows = [dict(row) for row in connection.execute(statement).mappings()]
        for row in rows:
            row["detail"] = json.loads(row["detail"]) if row["detail"] is not None else None
        return rows
