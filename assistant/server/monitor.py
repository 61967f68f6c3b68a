"""The virtual assistant's live monitor: ``/monitor`` (the page) and ``/ws/monitor``.

An assistant sees the live sessions of the therapists they are assigned to (an admin sees
every live session): who has joined, connection state, microphone level and silence, frame
rates, round-trip time, jitter and loss, transcription health, and alerts. The snapshot is
built from health figures only; no transcript, label, cue or session label is ever read here.
The assistant can send a participant a short setup message (a nudge) that shows on that
participant's page and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from assistant.live.health import Thresholds, alerts
from assistant.live.room import Room
from assistant.server.accounts import page
from assistant.server.auth import current_user
from assistant.server.http import error, same_origin
from assistant.server.sockets import Channel, Close
from assistant.store import User

if TYPE_CHECKING:
    from assistant.server.app import Attune

log = logging.getLogger("attune.monitor")

MONITOR_ROLES = ("assistant", "admin")
SNAPSHOT_EVERY_S = 1.0
REFRESH_ASSIGNMENTS_S = 5.0
MAX_NUDGE = 200
NUDGE_EVERY_S = 3.0


async def monitor_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    if user.role not in MONITOR_ROLES:
        return error(403, "forbidden", "the monitor is for virtual assistants")
    return await page("monitor.html")(request)


def session_health(room: Room, therapist: str, thresholds: Thresholds) -> dict[str, Any]:
    """What the monitor shows of one live session: health figures, never content."""
    now = room.now()
    people = {role: p.health.snapshot(now, thresholds) for role, p in room.participants.items()}
    lag = room.transcription_lag()
    return {
        "id": room.session.id,
        "therapist": therapist,
        "planned_minutes": room.session.planned_minutes,
        "elapsed_s": round(now),
        "transcribing": room.transcribing,
        "transcription_lag_s": round(lag, 1),
        "participants": people,
        "alerts": [a.json() for a in alerts(people, lag, thresholds)],
    }


class MonitorView:
    """The live sessions one assistant may watch."""

    def __init__(self, attune: Attune, user: User) -> None:
        self.attune = attune
        self.user = user
        self._therapists: dict[int, str] = {}
        self._refreshed = -REFRESH_ASSIGNMENTS_S

    async def therapists(self) -> dict[int, str]:
        """Whose sessions are visible: assignments change while the page is open."""
        if time.monotonic() - self._refreshed >= REFRESH_ASSIGNMENTS_S:
            store = self.attune.store
            if self.user.role == "admin":
                rows = await asyncio.to_thread(store.list_users, "therapist")
            else:
                rows = await asyncio.to_thread(store.therapists_of, self.user.id)
            self._therapists = {u.id: u.username for u in rows}
            self._refreshed = time.monotonic()
        return self._therapists

    async def rooms(self) -> dict[str, tuple[Room, str]]:
        therapists = await self.therapists()
        return {
            sid: (room, therapists[room.session.therapist_id])
            for sid, room in self.attune.rooms.items()
            if not room.closed and room.session.therapist_id in therapists
        }

    async def snapshot(self) -> dict[str, Any]:
        thresholds = self.attune.config.live.thresholds
        service = self.attune.service
        sessions = [
            session_health(room, therapist, thresholds)
            for room, therapist in (await self.rooms()).values()
        ]
        sessions.sort(key=lambda s: (-len(s["alerts"]), s["therapist"], s["id"]))
        return {
            "type": "sessions",
            "sessions": sessions,
            "transcription": {
                "queue": service.depth,
                "oldest_wait_s": round(service.oldest_wait(), 1),
                "last_model_s": round(service.stats.last_model_s, 2),
            },
        }


async def monitor_socket(ws: WebSocket) -> None:
    attune: Attune = ws.app.state.attune
    await ws.accept()
    channel = Channel(ws)
    user = await current_user(ws)
    if user is None:
        await channel.close(Close.UNAUTHORIZED, "log in first")
        return
    if user.role not in MONITOR_ROLES:
        await channel.close(Close.FORBIDDEN, "the monitor is for virtual assistants")
        return
    if not same_origin(ws):
        await channel.close(Close.FORBIDDEN, "open the monitor from Attune's own page")
        return
    view = MonitorView(attune, user)
    nudged: dict[tuple[str, str], float] = {}

    async def push() -> None:
        while True:
            await channel.send(await view.snapshot())
            await asyncio.sleep(SNAPSHOT_EVERY_S)

    pusher = asyncio.get_running_loop().create_task(push(), name=f"monitor-{user.id}")
    try:
        while True:
            message = await channel.receive()
            if message is None:
                continue
            if message["type"] == "ping":
                await channel.send({"type": "pong"})
            elif message["type"] == "nudge":
                await _nudge(attune, view, channel, message, nudged)
            else:
                await channel.error("unknown_type", f"unknown message type {message['type']!r}")
    except WebSocketDisconnect:
        pass
    finally:
        pusher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pusher


async def _nudge(
    attune: Attune,
    view: MonitorView,
    channel: Channel,
    message: dict[str, Any],
    nudged: dict[tuple[str, str], float],
) -> None:
    session_id, role, text = message.get("session"), message.get("role"), message.get("text")
    if role not in ("therapist", "client") or not isinstance(session_id, str):
        await channel.error("bad_message", "a nudge needs 'session', 'role' and 'text'")
        return
    if not isinstance(text, str) or not 0 < len(text.strip()) <= MAX_NUDGE:
        await channel.error("bad_message", f"'text' must be 1 to {MAX_NUDGE} characters")
        return
    found = (await view.rooms()).get(session_id)
    if found is None:
        await channel.error("unknown_session", "no live session of yours has that id")
        return
    now = time.monotonic()
    if now - nudged.get((session_id, role), -NUDGE_EVERY_S) < NUDGE_EVERY_S:
        await channel.error("too_fast", f"one message every {NUDGE_EVERY_S:g} s per person")
        return
    room = found[0]
    if not await room.nudge(role, text.strip()):
        await channel.error("not_connected", f"the {role} is not connected")
        return
    nudged[(session_id, role)] = now
    attune.metrics.nudges.inc()
    await asyncio.to_thread(
        attune.store.audit, view.user.id, "session.nudge", session_id, {"role": role}
    )
    await channel.send({"type": "nudge_sent", "session": session_id, "role": role})
