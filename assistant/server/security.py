"""Security defaults for every response and every WebSocket handshake, in one ASGI middleware,
and the rate limits.

Every HTTP response gets ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin``,
``X-Frame-Options: DENY``, a ``Permissions-Policy`` that allows the camera and microphone to
Attune's own pages only, and a Content-Security-Policy: :data:`PAGE_CSP` for HTML pages (scripts,
styles, media and connections from Attune's own origin only: no inline script or style), and
:data:`NO_CONTENT_CSP` for everything else. A response that sets its own CSP (the printable
report allows exactly its one style block) keeps it. Over HTTPS (served directly with
``--certfile``, or behind a proxy that says so in ``X-Forwarded-Proto``) responses add HSTS.

A WebSocket handshake whose ``Origin`` is not Attune's own is refused with HTTP 403 before the
application sees it: a page on another site cannot open a socket that rides on the therapist's
login cookie (cross-site WebSocket hijacking). Clients that send no ``Origin`` (not browsers)
pass; they hold no browser's cookies.

The JSON API (``/api/...``) is rate-limited per login (or, without one, per address): a token
bucket of ``api_burst`` requests refilled at ``api_rate_per_minute``; past it, 429 with
``Retry-After``. Login failures are limited per user name and address, and per address
(:class:`LoginThrottle`, used by ``accounts.login``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("attune.server")

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""HTML pages: everything from Attune's own origin, nothing inline, never framed."""
NO_CONTENT_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
"""Everything that is not a page (JSON, scripts, exports): nothing may run if a browser renders
it as a document."""
PERMISSIONS_POLICY = (
    "camera=(self), microphone=(self), display-capture=(), geolocation=(), payment=(), usb=(), "
    "interest-cohort=()"
)
HSTS = "max-age=31536000"
LOGIN_COOKIE = "attune_login"


@dataclass(frozen=True)
class SecurityOptions:
    """The limits and TLS settings of `attune serve` (see ``attune serve --help``)."""

    certfile: Path | None = None
    """TLS certificate chain (PEM): Attune serves HTTPS itself."""
    keyfile: Path | None = None
    """The certificate's private key (PEM)."""
    forwarded_allow_ips: str = "127.0.0.1"
    """Proxies whose X-Forwarded-Proto and X-Forwarded-For are trusted (comma-separated, or *)."""
    api_rate_per_minute: int = 600
    """JSON API requests per minute per login (or per address without one); 0: no limit."""
    api_burst: int = 120
    """Requests allowed at once before the rate applies."""
    max_open_sessions: int = 30
    """Sessions a therapist may hold open (neither ended nor expired) at once; 0: no limit."""
    login_failures_per_user: int = 10
    """Failed log-ins per user name and address within ``login_window_s`` before 429."""
    login_failures_per_address: int = 50
    """Failed log-ins from one address (any user names) within ``login_window_s``."""
    login_window_s: float = 15 * 60

    @property
    def tls(self) -> bool:
        return self.certfile is not None


def same_origin_headers(headers: Headers) -> bool:
    """A browser's cross-site request carries a foreign Origin; requests without one (curl,
    tests, non-browser clients) hold no browser's cookies."""
    origin = headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == headers.get("host", "")


class Window:
    """Events per key in a sliding window (timestamps kept per key), with a bounded number of
    keys: the oldest keys are forgotten first, so a flood of new keys cannot exhaust memory."""

    def __init__(self, limit: int, window_s: float, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        hits = self._hits.get(key)
        if hits is None:
            return None
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if not hits:
            del self._hits[key]
            return None
        return hits

    def retry_after(self, key: str, now: float | None = None) -> float | None:
        """Seconds until ``key`` may try again, or None when it is under its limit."""
        now = time.monotonic() if now is None else now
        hits = self._recent(key, now)
        if hits is None or len(hits) < self.limit:
            return None
        return max(hits[len(hits) - self.limit] + self.window_s - now, 0.0) or 0.001

    def add(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        hits = self._recent(key, now)
        if hits is None:
            hits = self._hits[key] = deque(maxlen=self.limit)
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
        hits.append(now)
        self._hits.move_to_end(key)

    def clear(self, key: str) -> None:
        self._hits.pop(key, None)


@dataclass
class LoginThrottle:
    """Failed log-ins, limited per (user name, address) and per address: after 10 wrong
    passwords for one user name from one address, that address waits until the oldest of them
    is 15 minutes old; spraying many user names from one address is bounded too. A success
    clears that user name's count from that address. Failures are not counted per user name
    alone, so nobody can lock a therapist out from elsewhere."""

    per_user: int = 10
    per_address: int = 50
    window_s: float = 15 * 60
    _users: Window = field(init=False)
    _addresses: Window = field(init=False)

    def __post_init__(self) -> None:
        self._users = Window(self.per_user, self.window_s)
        self._addresses = Window(self.per_address, self.window_s)

    @staticmethod
    def _user_key(username: str, address: str) -> str:
        return f"{address}\0{username.casefold()[:150]}"

    def retry_after(self, username: str, address: str) -> float | None:
        waits = [
            self._users.retry_after(self._user_key(username, address)),
            self._addresses.retry_after(address),
        ]
        found = [w for w in waits if w is not None]
        return max(found) if found else None

    def failed(self, username: str, address: str) -> None:
        self._users.add(self._user_key(username, address))
        self._addresses.add(address)

    def succeeded(self, username: str, address: str) -> None:
        self._users.clear(self._user_key(username, address))


class TokenBuckets:
    """A token bucket per key (bounded number of keys, least recently used forgotten first)."""

    def __init__(self, rate_per_minute: int, burst: int, max_keys: int = 100_000) -> None:
        self.rate = rate_per_minute / 60.0
        self.burst = float(max(burst, 1))
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, now: float | None = None) -> float | None:
        """Take one token; None when granted, else the seconds until one is free."""
        now = time.monotonic() if now is None else now
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            self._buckets.move_to_end(key)
            return (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens - 1.0, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return None


def client_address(scope: Scope) -> str:
    """The caller's address (the proxy's view of it when the proxy is trusted: uvicorn
    rewrites the client from X-Forwarded-For for ``--forwarded-allow-ips``)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _cookie(headers: Headers, name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def too_many(retry_after: float, message: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The parts of a 429 answer: status, headers, JSON body."""
    body = json.dumps({"error": "rate_limited", "message": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(max(1, math.ceil(retry_after))).encode()),
    ]
    return 429, headers, body


class SecurityMiddleware:
    """Security headers on every response, the WebSocket Origin check and the API rate."""

    def __init__(self, app: ASGIApp, options: SecurityOptions | None = None) -> None:
        self.app = app
        self.options = options or SecurityOptions()
        rate = self.options.api_rate_per_minute
        self.api = TokenBuckets(rate, self.options.api_burst) if rate > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            headers = Headers(scope=scope)
            if not same_origin_headers(headers):
                log.warning(
                    "refused a WebSocket to %s from another origin", scope.get("path", "")[:100]
                )
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": 1008, "reason": "cross-site"})
                return
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"
        if self.api is not None and scope.get("path", "").startswith("/api/"):
            headers = Headers(scope=scope)
            login = _cookie(headers, LOGIN_COOKIE)
            key = (
                "login:" + hashlib.sha256(login.encode("utf-8", "surrogatepass")).hexdigest()
                if login
                else "address:" + client_address(scope)
            )
            wait = self.api.take(key)
            if wait is not None:
                status, extra, body = too_many(wait, "too many requests; slow down")
                await send_headers(send, status, extra, https)
                await send({"type": "http.response.body", "body": body})
                return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                secure(MutableHeaders(scope=message), https)
            await send(message)

        await self.app(scope, receive, send_secured)


def secure(headers: MutableHeaders, https: bool) -> None:
    """Add the security headers a response lacks."""
    kind = headers.get("content-type", "")
    if "content-security-policy" not in headers:
        page = kind.startswith("text/html")
        headers["Content-Security-Policy"] = PAGE_CSP if page else NO_CONTENT_CSP
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")  # no-referrer makes a form's Origin "null"
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if https:
        headers.setdefault("Strict-Transport-Security", HSTS)


async def send_headers(
    send: Send, status: int, raw: list[tuple[bytes, bytes]], https: bool
) -> None:
    message: Message = {"type": "http.response.start", "status": status, "headers": raw}
    secure(MutableHeaders(scope=message), https)
    await send(message)
