"""Who is logged in, and what they may see. An institution's login sees its own account's
packages only; operators and inspectors see every package, and each of their views of a
package is written to the audit log (pipeline/catalogue/web_accounts.py). A package another
institution asks for is answered exactly as one that does not exist (404): a guessed
receipt id tells nothing."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any, Mapping

from starlette.requests import Request

from pipeline.web.services import WebConfig, WebServices

ROLE_LABEL = {"institution": "培训机构", "operator": "运维人员", "inspector": "监管人员"}
STAFF = ("operator", "inspector")

SESSION_USER, SESSION_STAMP, SESSION_SINCE = "user", "stamp", "since"

#: a request whose session user was not read yet
_UNREAD = object()


class LoginRequired(Exception):
    """No valid login: the application answers with the log-in page."""


class NotFound(Exception):
    """Nothing the user may see is there (also: another institution's package)."""


@dataclass(frozen=True)
class WebUser:
    name: str
    role: str
    account: str | None

    @property
    def staff(self) -> bool:
        return self.role in STAFF

    @property
    def role_label(self) -> str:
        return ROLE_LABEL.get(self.role, self.role)


def password_stamp(password_hash: str) -> str:
    """What a session keeps of the password's hash: a new password (or a disabled login)
    ends every session made with the old one."""
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:16]


def start_session(request: Request, row: Mapping[str, Any]) -> None:
    """A fresh session for the login ``row`` (nothing of the session before it is kept)."""
    request.state.web_user = _UNREAD  # the next ask reads the new session
    request.session.clear()
    request.session.update({SESSION_USER: row["name"], SESSION_STAMP: password_stamp(row["password_hash"]),
                            SESSION_SINCE: int(time.time())})


def logged_in(request: Request, services: WebServices, config: WebConfig) -> WebUser | None:
    """The user of this request's session, if it is still valid: not expired, the login
    still enabled and its password unchanged. Read once per request (the handler asks, and
    the page it renders asks again)."""
    user = getattr(request.state, "web_user", _UNREAD)
    if user is _UNREAD:
        user = request.state.web_user = _session_user(request, services, config)
    return user  # type: ignore[no-any-return]


def _session_user(request: Request, services: WebServices, config: WebConfig) -> WebUser | None:
    name = request.session.get(SESSION_USER)
    if not name:
        return None
    row = services.accounts.get(str(name))
    expired = time.time() - float(request.session.get(SESSION_SINCE) or 0) > config.session_seconds
    if (expired or row is None or row["disabled_at"]
            or request.session.get(SESSION_STAMP) != password_stamp(row["password_hash"])):
        request.session.clear()
        return None
    return WebUser(row["name"], row["role"], row["account"])


def require(request: Request, services: WebServices, config: WebConfig) -> WebUser:
    user = logged_in(request, services, config)
    if user is None:
        raise LoginRequired()
    return user


def may_see(user: WebUser, entry: Mapping[str, Any]) -> bool:
    """Whether ``user`` may see the package of this catalogue entry."""
    return user.staff or (user.account is not None and entry.get("account") == user.account)
