"""The institution registry: who gets the receipt mail of a package.

A TOML file (path in ``PIPELINE_INSTITUTIONS``) with one table per institution::

    [[institution]]
    name = "新城区星火职业培训学校"        # exactly as in 培训方案.json
    email = ["office@xinghuo.example"]   # one or more addresses
    accounts = ["xinghuo"]               # SFTP users / inbox subfolders / bucket prefixes

A package is matched by the account it was uploaded from (``source.account`` of its
document) only: the receipt goes to that account's institution, never to an institution
a package merely names in its plan (anyone able to upload could otherwise make mail
arrive at any institution). No match: the mail goes to the operator with a note. A plan
naming another registered institution than the account's is flagged to the operator
(see :mod:`pipeline.notify.message`).

The registry is read once when a process starts. Anything wrong with it (TOML syntax,
an unknown key, a missing or malformed address, an account or name listed twice) raises
:class:`RegistryError` with a message naming the file and the line, so a typo stops
start-up instead of sending receipts to the wrong place.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: an ASCII addr-spec: something@domain.tld, no spaces, quotes or angle brackets
#: (non-ASCII addresses would need SMTPUTF8; use the punycode form of a domain)
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$")
_TABLE_HEADER = re.compile(r"^\s*\[\[\s*institution\s*\]\]\s*(#.*)?$")
_KEYS = {"name", "email", "accounts"}
#: an account: an SFTP user name (deploy/sftp/institution-account), an inbox folder, a prefix
_ACCOUNT = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class RegistryError(ValueError):
    """The registry file is malformed; the message names the file and the line."""


def _has_control_characters(text: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in text)


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
    """A registry entry a document was matched to, and how (always "account")."""

    institution: Institution
    by: str = "account"


@dataclass(frozen=True)
class Registry:
    institutions: tuple[Institution, ...] = ()
    origin: str = "(no registry)"

    def match(self, account: str | None) -> Match | None:
        """The institution of a package uploaded from ``account``, if it is registered."""
        if account:
            for inst in self.institutions:
                if account in inst.accounts:
                    return Match(inst)
        return None

    def named(self, name: str | None) -> Institution | None:
        """The registered institution called ``name`` (exact, surrounding spaces ignored):
        only to tell the operator what a package claims, never to address it."""
        if name and name.strip():
            for inst in self.institutions:
                if inst.name == name.strip():
                    return inst
        return None

    def match_document(self, document: dict[str, Any]) -> Match | None:
        return self.match((document.get("source") or {}).get("account"))

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
    source = _Source(text.splitlines(), origin)
    entries = source.entries(table)
    institutions: list[Institution] = []
    seen_accounts: dict[str, tuple[str, int | None]] = {}
    seen_names: dict[str, int | None] = {}
    for n, (entry, span) in enumerate(zip(entries, source.spans(len(entries)))):
        where = _Entry(source, entry, n, span)
        institution = where.institution()
        for account in institution.accounts:
            if account in seen_accounts:
                other, other_line = seen_accounts[account]
                raise source.fail(f"{where.label}: account {account!r} is already listed for {other!r}"
                                  f"{f' (line {other_line})' if other_line else ''}", where.line_of("accounts"))
            seen_accounts[account] = (institution.name, where.line_of("accounts"))
        if institution.name in seen_names:
            other_line = seen_names[institution.name]
            raise source.fail(f"{where.label}: listed twice{f' (first at line {other_line})' if other_line else ''}",
                              where.line_of("name"))
        seen_names[institution.name] = where.line_of("name")
        institutions.append(institution)
    return Registry(tuple(institutions), origin)


@dataclass(frozen=True)
class _Source:
    """The registry's text, for errors that name the line."""

    lines: list[str]
    origin: str

    def fail(self, message: str, line: int | None) -> RegistryError:
        where = f" line {line}" if line else ""
        return RegistryError(f"{self.origin}{where}: {message}")

    def entries(self, table: dict[str, Any]) -> list[dict[str, Any]]:
        """The [[institution]] tables; nothing else may be at the top level."""
        for key in table:
            if key != "institution":
                raise self.fail(f"unknown key {key!r} (expected [[institution]] tables with name, email, accounts)",
                                _key_line(self.lines, key, 0, len(self.lines)))
        entries = table.get("institution", [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise self.fail("'institution' must be written as [[institution]] tables",
                            _key_line(self.lines, "institution", 0, len(self.lines)))
        return entries

    def spans(self, count: int) -> list[tuple[int | None, int, int]]:
        """(header line, first line, end line) of each table. The n-th table starts at
        the n-th [[institution]] header (when they are written that way, the documented
        form); its keys lie before the next header. Otherwise the whole text."""
        headers = [n + 1 for n, line in enumerate(self.lines) if _TABLE_HEADER.match(line)]
        if len(headers) != count:
            return [(None, 0, len(self.lines))] * count
        return [(headers[n], headers[n], headers[n + 1] - 1 if n + 1 < count else len(self.lines))
                for n in range(count)]


class _Entry:
    """One [[institution]] table, checked."""

    def __init__(self, source: _Source, entry: dict[str, Any], n: int, span: tuple[int | None, int, int]) -> None:
        self.source, self.entry = source, entry
        self.header, self.start, self.end = span
        given = entry.get("name")
        self.label = (f"[[institution]] {given.strip()!r}" if isinstance(given, str) and given.strip()
                      else f"[[institution]] #{n + 1}")

    def line_of(self, key: str) -> int | None:
        return _key_line(self.source.lines, key, self.start, self.end) or self.header

    def fail(self, message: str, line: int | None) -> RegistryError:
        return self.source.fail(f"{self.label}: {message}", line)

    def institution(self) -> Institution:
        for key in self.entry:
            if key not in _KEYS:
                raise self.fail(f"unknown key {key!r} (allowed: name, email, accounts)", self.line_of(key))
        name = self.entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise self.fail("'name' is missing or empty (the institution's name as in 培训方案.json)",
                            self.line_of("name"))
        if _has_control_characters(name):
            # it would go into every receipt mail's headers, where a line break is refused
            raise self.fail("'name' contains a line break or another control character",
                            self.line_of("name"))
        return Institution(name=name.strip(), emails=self._emails(), accounts=self._accounts())

    def _emails(self) -> tuple[str, ...]:
        if "email" not in self.entry:
            raise self.fail("'email' is missing (a list of addresses, e.g. email = [\"office@example.cn\"])",
                            self.header)
        emails = self.entry["email"]
        if isinstance(emails, str):
            emails = [emails]
        if not isinstance(emails, list) or not emails:
            raise self.fail("'email' must be a non-empty list of addresses", self.line_of("email"))
        for address in emails:
            if not isinstance(address, str) or not valid_address(address.strip()):
                raise self.fail(f"{address!r} is not an e-mail address (plain ASCII, like office@example.cn)",
                                self.line_of("email"))
        return tuple(a.strip() for a in emails)

    def _accounts(self) -> tuple[str, ...]:
        accounts = self.entry.get("accounts", [])
        if isinstance(accounts, str):
            accounts = [accounts]
        if not isinstance(accounts, list) or not all(isinstance(a, str) and a.strip() for a in accounts):
            raise self.fail("'accounts' must be a list of account names", self.line_of("accounts"))
        for account in accounts:
            if not _ACCOUNT.match(account.strip()):
                raise self.fail(f"account {account!r} is not an account name (a-z, 0-9, - and _, a letter first, "
                                f"at most 32: the SFTP user, inbox folder or bucket prefix)", self.line_of("accounts"))
        return tuple(a.strip() for a in accounts)


def _key_line(lines: list[str], key: str, start: int, end: int) -> int | None:
    """The 1-based number of the line in ``lines[start:end]`` that assigns ``key``."""
    pattern = re.compile(rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')\s*=")
    for n in range(start, min(end, len(lines))):
        if pattern.match(lines[n]):
            return n + 1
    return None
