"""The web application's logins (issue 18, docs/catalogue.md "Web logins"):

    pipeline web-user add NAME --role institution|operator|inspector [--account ACCOUNT]
    pipeline web-user list [--json]
    pipeline web-user disable NAME

``add`` reads the password from standard input (its first line), or, on a terminal, asks
for it twice; it must be at least 10 characters. An institution login is bound to one
account of the institution registry (``PIPELINE_INSTITUTIONS``) and sees that account's
packages only; operator and inspector logins are bound to none. ``add`` of a name that
exists sets its role, account and password anew and enables it again (how a forgotten
password is reset). Only the password's argon2 hash is stored, in the catalogue database
(``DATABASE_URL``, else the SQLite file under the data folder); nothing prints it.

Exit status: 0 done; 2 the command could not run (bad arguments, a short password, an
account the registry does not know, no such login).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import datetime
from typing import Any

from pipeline.app.ops_cli import open_composition

EXIT_OK, EXIT_USAGE = 0, 2


def _fail(message: str) -> int:
    print(f"pipeline web-user: {message}", file=sys.stderr)
    return EXIT_USAGE


def _read_password() -> str | None:
    """The new password: on a terminal asked twice (None when the two differ), else the
    first line of standard input without its line end."""
    if sys.stdin.isatty():
        first = getpass.getpass("new password: ")
        if getpass.getpass("the same password again: ") != first:
            return None
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _registered(composition: Any, account: str) -> tuple[str | None, str | None]:
    """(the institution's name, None) of a registry account, or (None, why not)."""
    from pipeline.notify.registry import RegistryError

    try:
        registry = composition.registry
    except RegistryError as exc:
        return None, str(exc)
    match = registry.match(account)
    if match is None:
        where = (f"the institution registry {registry.origin}" if composition.settings.institutions_path
                 else "the institution registry (PIPELINE_INSTITUTIONS is not set)")
        return None, (f"no account {account!r} in {where}: an institution login is bound to a registered "
                      "account (add it to the registry's accounts first)")
    return match.institution.name, None


def cmd_add(args: argparse.Namespace) -> int:
    from pipeline.catalogue.web_accounts import check_login
    from pipeline.web.passwords import hash_password, password_problem

    try:
        name, account = check_login(args.name, args.role, args.account)
    except ValueError as exc:
        return _fail(f"add: {exc}")
    composition = open_composition(prog="pipeline web-user")
    institution = None
    if account is not None:
        institution, problem = _registered(composition, account)
        if problem:
            return _fail(f"add: {problem}")
    password = _read_password()
    if password is None:
        return _fail("add: the two passwords differ (两次输入的密码不一致)")
    problem = password_problem(password)
    if problem:
        return _fail(f"add: {problem}")
    accounts = composition.web_accounts
    existed = accounts.get(name) is not None
    try:
        accounts.put(name, args.role, account, hash_password(password), datetime.now(composition.zone))
    except ValueError as exc:
        return _fail(f"add: {exc}")
    bound = f" bound to account {account} ({institution})" if account else ""
    print(f"{'updated' if existed else 'added'} {args.role} login {name}{bound}")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:

    users = open_composition(prog="pipeline web-user").web_accounts.all()  # never the hashes
    if args.json:
        print(json.dumps(users, ensure_ascii=False, indent=2))
        return EXIT_OK
    if not users:
        print("no web logins (pipeline web-user add NAME --role ...)")
        return EXIT_OK
    rows = [("NAME", "ROLE", "ACCOUNT", "CREATED", "DISABLED")]
    rows += [(u["name"], u["role"], u["account"] or "-", u["created_at"], u["disabled_at"] or "-") for u in users]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    return EXIT_OK


def cmd_disable(args: argparse.Namespace) -> int:

    composition = open_composition(prog="pipeline web-user")
    if not composition.web_accounts.disable(args.name.strip(), datetime.now(composition.zone)):
        return _fail(f"disable: no web login {args.name!r}")
    print(f"disabled web login {args.name.strip()} (it can no longer sign in; `web-user add` enables it again)")
    return EXIT_OK


def add_web_user_commands(sub: Any) -> None:
    web_user = sub.add_parser("web-user", help="the web application's logins: add, list, disable")
    actions = web_user.add_subparsers(dest="action", required=True, metavar="add|list|disable")
    add = actions.add_parser("add", help="add a login, or set an existing one's role, account and password anew "
                                         "(the password is read from standard input)")
    add.add_argument("name", metavar="NAME", help="the login name (at most 64 characters, no spaces)")
    add.add_argument("--role", required=True, choices=["institution", "operator", "inspector"])
    add.add_argument("--account", metavar="ACCOUNT",
                     help="institution logins: the institution registry account it sees the packages of")
    add.set_defaults(func=cmd_add)
    listing = actions.add_parser("list", help="every login: name, role, account, created, disabled")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_list)
    disable = actions.add_parser("disable", help="disable a login (kept for the audit trail)")
    disable.add_argument("name", metavar="NAME")
    disable.set_defaults(func=cmd_disable)
