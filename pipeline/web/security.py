"""The web application's defences that are not about who may see what (pipeline/web/access.py
is): security headers on every response, CSRF tokens on every form, and the log-in throttle."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from typing import Any, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: no inline script or style, nothing from another origin, never inside a frame
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "media-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                           "frame-ancestors 'none'")

SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every HTTP response (and HSTS when served over
    HTTPS only), and ``Cache-Control: no-store`` to pages that are not static files: a
    shared computer's browser keeps no institution's page."""

    def __init__(self, app: ASGIApp, https_only: bool = False, upload_origin: str | None = None) -> None:
        self.app = app
        self.https_only = https_only
        policy = CONTENT_SECURITY_POLICY
        if upload_origin:  # the S3 inbox the browser sends a submitted ZIP's parts to
            policy += f"; connect-src 'self' {upload_origin}"
        self.headers = [(b"content-security-policy", policy.encode("ascii")), *SECURITY_HEADERS]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() not in dict(self.headers)]
                headers += self.headers
                if self.https_only:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


CSRF_FIELD = "csrf_token"


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use): every form carries it."""
    token = request.session.get(CSRF_FIELD)
    if not token:
        token = secrets.token_urlsafe(32)
        request.session[CSRF_FIELD] = token
    return str(token)


async def checked_form(request: Request) -> Any:
    """The posted form, after its CSRF token was compared with the session's (403 if it
    is missing or differs: a page of another site cannot post in the user's name)."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected = request.session.get(CSRF_FIELD)
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, str(expected)):
        raise HTTPException(403, "CSRF")
    return form


class LoginThrottle:
    """Failed log-ins counted per login name and per client address over a sliding window:
    after ``failures`` of either, further attempts wait until the oldest leaves the window
    (so guessing a password costs ``window / failures`` per try). In memory: one web
    process serves the application (docs/web.md)."""

    def __init__(self, failures: int, window_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = failures
        self.window = window_seconds
        self.clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._seen.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def wait_seconds(self, *keys: str) -> float:
        """0 when an attempt may go on, else the seconds until one may."""
        now = self.clock()
        with self._lock:
            waits = [times[0] + self.window - now for key in keys
                     if len(times := self._recent(key, now)) >= self.failures]
        return max(waits, default=0.0)

    #: names and addresses remembered before the ones whose failures all left the window are
    #: forgotten (a stream of made-up names must not grow the memory without end)
    MAX_KEYS = 10_000

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)
            if len(self._seen) > self.MAX_KEYS:
                for key in [k for k, times in self._seen.items() if not times or times[-1] <= now - self.window]:
                    del self._seen[key]

    def succeeded(self, name_key: str) -> None:
        with self._lock:
            self._seen.pop(name_key, None)
