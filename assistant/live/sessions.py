"""Sessions and their join links.

A link carries an unguessable token (``secrets.token_urlsafe``) scoped to one session and one
role, with an expiry. Only SHA-256 digests of tokens are kept, so a lookup compares digests
(a timing difference reveals nothing about a token) and a memory dump holds no usable token.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Literal

Role = Literal["therapist", "client"]
ROLES: tuple[Role, ...] = ("therapist", "client")

MIN_PLANNED_MINUTES = 5
MAX_PLANNED_MINUTES = 240
LINK_GRACE_S = 12 * 3600  # a link stays valid this long after the session's planned end


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class Session:
    id: str
    planned_minutes: int
    created_at: float
    expires_at: float
    label: str = ""
    ended: bool = False
    token_digests: dict[Role, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Grant:
    """What a valid token gives: one role in one session."""

    session: Session
    role: Role


class SessionRegistry:
    """In-memory sessions and tokens (the store of the issue "Session records" replaces it)."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._by_digest: dict[str, tuple[str, Role]] = {}
        self._now = time.time

    def create(self, planned_minutes: int, label: str = "") -> tuple[Session, dict[Role, str]]:
        """A new session and its two links' tokens (returned once, never stored)."""
        if not MIN_PLANNED_MINUTES <= planned_minutes <= MAX_PLANNED_MINUTES:
            raise ValueError(
                f"planned_minutes must be between {MIN_PLANNED_MINUTES} and {MAX_PLANNED_MINUTES}"
            )
        now = self._now()
        session = Session(
            id=uuid.uuid4().hex[:12],
            planned_minutes=planned_minutes,
            created_at=now,
            expires_at=now + planned_minutes * 60 + LINK_GRACE_S,
            label=label,
        )
        tokens: dict[Role, str] = {}
        for role in ROLES:
            token = secrets.token_urlsafe(32)
            tokens[role] = token
            session.token_digests[role] = digest(token)
            self._by_digest[digest(token)] = (session.id, role)
        self._sessions[session.id] = session
        return session, tokens

    def get(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    def resolve(self, token: object) -> Grant | None:
        """The grant of a token, or None when it is malformed, unknown, expired or ended."""
        if not isinstance(token, str) or not 20 <= len(token) <= 200:
            return None
        found = self._by_digest.get(digest(token))
        if found is None:
            return None
        session = self._sessions.get(found[0])
        if session is None or session.ended or self._now() > session.expires_at:
            return None
        return Grant(session, found[1])

    def end(self, session_id: str) -> None:
        session = self._sessions.get(session_id)
        if session is not None:
            session.ended = True

    def sessions(self) -> list[Session]:
        return list(self._sessions.values())
