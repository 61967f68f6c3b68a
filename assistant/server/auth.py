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

from assistant.store import SessionRecord, Store, User

COOKIE = "attune_login"
LOGIN_TTL_S = 12 * 3600


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class Logins:
    """Login tokens in memory (only their digests); a restart asks everyone to log in again."""

    _by_digest: dict[str, tuple[int, float]] = field(default_factory=dict)

    def start(self, user: User) -> str:
        token = secrets.token_urlsafe(32)
        self._by_digest[_digest(token)] = (user.id, time.time() + LOGIN_TTL_S)
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
