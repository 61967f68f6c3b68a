"""Admission of live sessions: a server that is full, or already struggling, refuses to open
one more session rather than let every session in it degrade.

Measured on the 2-core machine (docs/reliability.md, "Load"): past its capacity a relay does not
fail at once; its sessions' audio and transcripts fall behind together. So a session is opened
only while fewer than ``--max-live-sessions`` are running (0: no fixed limit) and no running
session has been strained in the last minute: one of its speech taps fell 5 s behind and
dropped audio, which a server only does when it cannot keep up (a slow recogniser alone makes
text late, not this). Sessions already running are never refused: a participant who
reconnects, or the second one joining, always gets in.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

STRAIN_MEMORY_S = 60.0
"""A session strained this recently keeps new sessions out."""


class LiveRoom(Protocol):
    @property
    def closed(self) -> bool: ...

    @property
    def active(self) -> bool: ...

    def strained_within(self, seconds: float) -> bool: ...


def refusal(rooms: Iterable[LiveRoom], limit: int) -> str | None:
    """Why a new session may not open now, or None. The reason is a WebSocket close reason
    (at most 123 bytes), shown on the room page."""
    running = [room for room in rooms if not room.closed and room.active]
    if limit and len(running) >= limit:
        sessions = f"{limit} session{'s' if limit != 1 else ''}"
        return f"This server runs at most {sessions} at once: one has to end first."
    if any(room.strained_within(STRAIN_MEMORY_S) for room in running):
        return "This server is too busy with the sessions it is running to start another now."
    return None
