"""Accounts on the web: login with a password (argon2, checked by the store), a secure,
http-only, same-site cookie holding a random login token, and the access rules every route
and socket applies.

Who may see what:
- a therapist: their own sessions, with content (transcript, labels, cues);
- a virtual assistant: setup and health of the sessions of the therapists they are assigned
  to, never content;
- a trainer: content of the sessions a therapist shared for training;
- an admin: accounts, never content;
- a client: only the call their link opens (join links, not accounts).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from assistant.server.security import LoginThrottle, SecurityOptions
from assistant.store import SessionRecord, Store, User

COOKIE = "attune_login"
LOGIN_TTL_S = 12 * 3600


def _digest(token: str) -> str:
    """Login tokens (and join links, ``assistant.live.sessions.digest``) are looked up by
    their SHA-256 digest, never compared directly. A lookup's timing can depend only on the
    digest of the guess, and learning bits of a stored digest does not help to find a token
    that hashes to it (SHA-256 is preimage-resistant), so no timing reveals a token; nothing
    that holds a token is compared with ``==``."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class Logins:
    """Login tokens in memory (only their digests); a restart asks everyone to log in again.
    ``throttle`` limits failed log-ins (see ``security.LoginThrottle``)."""

    _by_digest: dict[str, tuple[int, float]] = field(default_factory=dict)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)

    @classmethod
    def for_options(cls, options: SecurityOptions) -> Logins:
        return cls(
            throttle=LoginThrottle(
                options.login_failures_per_user,
                options.login_failures_per_address,
                options.login_window_s,
            )
        )

    def start(self, user: User) -> str:
        token = secrets.token_urlsafe(32)
        now = time.time()
        if len(self._by_digest) >= 1000:  # forget expired logins now and then
            self._by_digest = {k: v for k, v in self._by_digest.items() if v[1] >= now}
        self._by_digest[_digest(token)] = (user.id, now + LOGIN_TTL_S)
        return token

    def user_id(self, token: str | None) -> int | None:
        if not token or len(token) > 200:
            return None
        found = self._by_digest.get(_digest(token))
        if found is None or found[1] < time.time():
            return None
        return found[0]

    def end(self, token: str | None) -> None:
        if token:
            self._by_digest.pop(_digest(token), None)


async def current_user(conn: HTTPConnection) -> User | None:
    """The logged-in, enabled user of a request or WebSocket, if any."""
    attune = conn.app.state.attune
    user_id = attune.logins.user_id(conn.cookies.get(COOKIE))
    if user_id is None:
        return None
    store: Store = attune.store
    user = await asyncio.to_thread(store.get_user, user_id)
    return user if user is not None and not user.disabled else None


def can_read_content(user: User, session: SessionRecord) -> bool:
    """Transcript, labels, cues, annotations, audio and reports of a session."""
    if user.role == "therapist":
        return session.therapist_id == user.id
    if user.role == "trainer":
        return session.shared_for_training
    return False
