"""Sessions' join links.

A link carries an unguessable token (``secrets.token_urlsafe``) scoped to one session and one
role, with an expiry. Only SHA-256 digests of tokens are stored, so a lookup compares digests
(a timing difference reveals nothing about a token) and a copy of the database holds no usable
link. Links live in the store, so they keep working across a restart of the server.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from assistant.store import SessionRecord, Store

Role = Literal["therapist", "client"]
ROLES: tuple[Role, ...] = ("therapist", "client")

MIN_PLANNED_MINUTES = 5
MAX_PLANNED_MINUTES = 240
DEFAULT_PLANNED_MINUTES = 50
LINK_GRACE = timedelta(hours=12)  # a link stays valid this long after the planned end


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Grant:
    """What a valid token gives: one role in one session."""

    session: SessionRecord
    role: Role


class SessionRegistry:
    """Creates sessions with their links and resolves tokens (synchronous: the store is; call
    it through ``asyncio.to_thread``)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def _now() -> datetime:
        return datetime.now(UTC)

    def create(
        self, therapist_id: int, planned_minutes: int, label: str = "", record_audio: bool = False
    ) -> tuple[SessionRecord, dict[Role, str]]:
        """A new session and its two links' tokens (returned once, never stored)."""
        if not MIN_PLANNED_MINUTES <= planned_minutes <= MAX_PLANNED_MINUTES:
            raise ValueError(
                f"planned_minutes must be between {MIN_PLANNED_MINUTES} and {MAX_PLANNED_MINUTES}"
            )
        session = self.store.create_session(
            therapist_id,
            session_id=secrets.token_hex(6),
            label=label,
            planned_minutes=planned_minutes,
            record_audio=record_audio,
        )
        expires = self._now() + timedelta(minutes=planned_minutes) + LINK_GRACE
        tokens: dict[Role, str] = {}
        for role in ROLES:
            tokens[role] = secrets.token_urlsafe(32)
            self.store.add_join_link(session.id, role, digest(tokens[role]), expires)
        return session, tokens

    def resolve(self, token: object) -> Grant | None:
        """The grant of a token, or None when it is malformed, unknown, expired or ended."""
        if not isinstance(token, str) or not 20 <= len(token) <= 200:
            return None
        link = self.store.find_join_link(digest(token))
        if link is None or link.expires_at < self._now():
            return None
        session = self.store.get_session(link.session_id)
        if session is None or session.ended_at is not None:
            return None
        return Grant(session, link.role)
