"""The institution registry: who gets the receipt mail of a package.

A TOML file (path in ``PIPELINE_INSTITUTIONS``) with one table per institution::

    [[institution]]
    name = "新城区星火职业培训学校"        # exactly as in 培训方案.json
    email = ["office@xinghuo.example"]   # one or more addresses
    accounts = ["xinghuo"]               # SFTP users / inbox subfolders / bucket prefixes

A package is matched by the account it was uploaded from (``source.account`` of its
document) first, then by the institution name its plan gives (``institution``); no
match: the mail goes to the operator with a note (see :mod:`pipeline.notify.mailer`).

The registry is read once when a process starts. Anything wrong with it (TOML syntax,
an unknown key, a missing or malformed address, an account or name listed twice) raises
:class:`RegistryError` with a message naming the file and the line, so a typo stops
start-up instead of sending receipts to the wrong place.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: an ASCII addr-spec: something@domain.tld, no spaces, quotes or angle brackets
#: (non-ASCII addresses would need SMTPUTF8; use the punycode form of a domain)
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$")
_TABLE_HEADER = re.compile(r"^\s*\[\[\s*institution\s*\]\]\s*(#.*)?$")
_KEYS = {"name", "email", "accounts"}


class RegistryError(ValueError):
    """The registry file is malformed; the message names the file and the line."""


def valid_address(address: str) -> bool:
    """True for a plain ASCII e-mail address (``office@xinghuo.example``)."""
    return len(address) <= 254 and bool(_ADDRESS.match(address))


@dataclass(frozen=True)
class Institution:
    name: str
    emails: tuple[str, ...]
    accounts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Match:
    """A registry entry a document was matched to, and how ("account" or "name")."""

    institution: Institution
    by: str


@dataclass(frozen=True)
class Registry:
    institutions: tuple[Institution, ...] = ()
    origin: str = "(no registry)"

    def match(self, account: str | None, name: str | None) -> Match | None:
        """The institution of a package uploaded from ``account`` whose plan names
        ``name``: by account first, then by name (exact, surrounding spaces ignored)."""
        if account:
            for inst in self.institutions:
                if account in inst.accounts:
                    return Match(inst, "account")
        if name and name.strip():
            for inst in self.institutions:
                if inst.name == name.strip():
                    return Match(inst, "name")
        return None

    def match_document(self, document: dict[str, Any]) -> Match | None:
        return self.match((document.get("source") or {}).get("account"), document.get("institution"))

    def __len__(self) -> int:
        return len(self.institutions)


def load_registry(path: Path | None) -> Registry:
    """Read and check the registry at ``path``; None: an empty registry (every receipt
    goes to the operator)."""
    if path is None:
        return Registry()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(f"cannot read the institution registry {path} (PIPELINE_INSTITUTIONS): {exc}") from exc
    return parse_registry(text, str(path))


def parse_registry(text: str, origin: str = "<registry>") -> Registry:
    """Parse and check registry text; every error names ``origin`` and a line."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already reads "... (at line 7, column 12)"
        raise RegistryError(f"{origin}: not valid TOML: {exc}") from exc
    lines = text.splitlines()
    headers = [n + 1 for n, line in enumerate(lines) if _TABLE_HEADER.match(line)]

    def fail(message: str, line: int | None) -> RegistryError:
        where = f" line {line}" if line else ""
        return RegistryError(f"{origin}{where}: {message}")

    for key in table:
        if key != "institution":
            raise fail(f"unknown key {key!r} (expected [[institution]] tables with name, email, accounts)",
                       _key_line(lines, key, 0, len(lines)))
    entries = table.get("institution", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise fail("'institution' must be written as [[institution]] tables", _key_line(lines, "institution", 0,
                                                                                        len(lines)))
    # The n-th table starts at the n-th [[institution]] header (when they are written that
    # way, which is the documented form); its keys lie before the next header.
    spans: list[tuple[int | None, int, int]] = []
    for n in range(len(entries)):
        if len(headers) == len(entries):
            start = headers[n]
            end = headers[n + 1] - 1 if n + 1 < len(headers) else len(lines)
            spans.append((start, start, end))
        else:
            spans.append((None, 0, len(lines)))

    institutions: list[Institution] = []
    seen_accounts: dict[str, tuple[str, int | None]] = {}
    seen_names: dict[str, int | None] = {}
    for n, entry in enumerate(entries):
        header, start, end = spans[n]
        given = entry.get("name")
        label = (f"[[institution]] {given.strip()!r}" if isinstance(given, str) and given.strip()
                 else f"[[institution]] #{n + 1}")

        def line_of(key: str) -> int | None:
            return _key_line(lines, key, start, end) or header

        for key in entry:
            if key not in _KEYS:
                raise fail(f"{label}: unknown key {key!r} (allowed: name, email, accounts)", line_of(key))
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise fail(f"{label}: 'name' is missing or empty (the institution's name as in 培训方案.json)",
                       line_of("name"))
        name = name.strip()
        if "email" not in entry:
            raise fail(f"{label}: 'email' is missing (a list of addresses, e.g. email = [\"office@example.cn\"])",
                       header)
        emails = entry["email"]
        if isinstance(emails, str):
            emails = [emails]
        if not isinstance(emails, list) or not emails:
            raise fail(f"{label}: 'email' must be a non-empty list of addresses", line_of("email"))
        for address in emails:
            if not isinstance(address, str) or not valid_address(address.strip()):
                raise fail(f"{label}: {address!r} is not an e-mail address (plain ASCII, like office@example.cn)",
                           line_of("email"))
        accounts = entry.get("accounts", [])
        if isinstance(accounts, str):
            accounts = [accounts]
        if not isinstance(accounts, list) or not all(isinstance(a, str) and a.strip() for a in accounts):
            raise fail(f"{label}: 'accounts' must be a list of account names", line_of("accounts"))
        for account in accounts:
            if account.strip() in seen_accounts:
                other, other_line = seen_accounts[account.strip()]
                raise fail(f"{label}: account {account!r} is already listed for {other!r}"
                           f"{f' (line {other_line})' if other_line else ''}", line_of("accounts"))
            seen_accounts[account.strip()] = (name, line_of("accounts"))
        if name in seen_names:
            other_line = seen_names[name]
            raise fail(f"{label}: listed twice{f' (first at line {other_line})' if other_line else ''}",
                       line_of("name"))
        seen_names[name] = line_of("name")
        institutions.append(Institution(name=name, emails=tuple(a.strip() for a in emails),
                                        accounts=tuple(a.strip() for a in accounts)))
    return Registry(tuple(institutions), origin)


def _key_line(lines: list[str], key: str, start: int, end: int) -> int | None:
    """The 1-based number of the line in ``lines[start:end]`` that assigns ``key``."""
    pattern = re.compile(rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')\s*=")
    for n in range(start, min(end, len(lines))):
        if pattern.match(lines[n]):
            return n + 1
    return None
