"""The WebSockets: ``/ws/control`` for every participant (signalling, join state, consent,
admit) and ``/ws/panel`` for the therapist's private panel (transcript, labels, cues).

A socket proves itself with its first message, ``{"type": "hello", "token": ...}``, so tokens
never appear in URLs or logs. A newer connection of the same link replaces the older one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from assistant.cues.catalog import KINDS
from assistant.live.health import browser_name, parse_check, parse_stats
from assistant.live.room import Room, other
from assistant.live.sessions import Role
from assistant.server import admission
from assistant.server.auth import current_user
from assistant.store.records import FEEDBACK_VALUES

if TYPE_CHECKING:
    from assistant.server.app import Attune

log = logging.getLogger("attune.server")

MAX_MESSAGE = 64 * 1024  # also enforced by the WebSocket protocol layer (close 1009)
MAX_SDP = 32 * 1024
HELLO_TIMEOUT_S = 10.0
MAX_ERRORS = 20


class Close:
    """WebSocket close codes (4000-4999 are the application's)."""

    BAD_MESSAGE = 4400
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    TIMEOUT = 4408
    REPLACED = 4409
    ENDED = 4410
    BUSY = 4429


class Channel:
    """One accepted WebSocket: serialised sends, JSON messages, the hello handshake."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self._lock = asyncio.Lock()
        self.errors = 0

    async def send(self, message: dict[str, Any]) -> None:
        async with self._lock:
            if self.ws.application_state == WebSocketState.CONNECTED:
                # a peer that is gone (e.g. closed 1009 right after its hello) cannot be sent
                # to; its handler learns so from its next receive, and cleans up there
                with contextlib.suppress(WebSocketDisconnect):
                    await self.ws.send_text(json.dumps(message))

    async def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code, reason)

    async def receive(self) -> dict[str, Any] | None:
        """The next JSON object, or None after a malformed one (an error was sent)."""
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        if text is None:
            await self.error("bad_message", "messages must be JSON text")
            return None
        if len(text) > MAX_MESSAGE:
            await self.error("too_large", f"messages are limited to {MAX_MESSAGE} bytes")
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            await self.error("bad_message", "messages must be JSON objects")
            return None
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            await self.error("bad_message", "messages must be JSON objects with a 'type'")
            return None
        return data

    async def error(self, code: str, message: str) -> None:
        self.errors += 1
        await self.send({"type": "error", "code": code, "message": message})
        if self.errors >= MAX_ERRORS:
            await self.close(Close.BAD_MESSAGE, "too many malformed messages")
            raise WebSocketDisconnect(Close.BAD_MESSAGE)

    async def hello(self, app: Attune) -> tuple[str, Role] | None:
        """Read the hello; on failure close with the matching code and return None."""
        try:
            first = await asyncio.wait_for(self.ws.receive(), HELLO_TIMEOUT_S)
        except TimeoutError:
            await self.close(Close.TIMEOUT, "no hello message in time")
            return None
        text = first.get("text") if first["type"] == "websocket.receive" else None
        try:
            data = json.loads(text) if text is not None and len(text) <= 4096 else None
        except json.JSONDecodeError:
            data = None
        if not isinstance(data, dict) or data.get("type") != "hello":
            await self.close(Close.BAD_MESSAGE, "the first message must be a hello")
            return None
        grant = await asyncio.to_thread(app.registry.resolve, data.get("token"))
        if grant is None:
            await self.close(Close.UNAUTHORIZED, "unknown or expired link")
            return None
        if grant.role == "therapist":
            # the therapist's link works only for the therapist logged in: a leaked link
            # alone opens neither the call's controls nor the panel's content
            user = await current_user(self.ws)
            if user is None or user.id != grant.session.therapist_id:
                await self.close(Close.UNAUTHORIZED, "log in as this session's therapist")
                return None
        return grant.session.id, grant.role


async def _take_over(app: Attune, key: tuple[str, str], ws: WebSocket) -> None:
    """The newest connection of a link wins; the older one is closed (4409)."""
    previous = app.sockets.get(key)
    app.sockets[key] = ws
    if previous is not None:
        await Channel(previous).close(Close.REPLACED, "replaced by a newer connection")


def _release(app: Attune, key: tuple[str, str], ws: WebSocket) -> None:
    if app.sockets.get(key) is ws:
        del app.sockets[key]


async def control_socket(ws: WebSocket) -> None:
    app: Attune = ws.app.state.attune
    await ws.accept()
    channel = Channel(ws)
    found = await channel.hello(app)
    if found is None:
        return
    session_id, role = found
    running = session_id in app.rooms and app.rooms[session_id].active
    if not running:  # a session already running always takes its participants back
        refused = admission.refusal(app.rooms.values(), app.config.max_live_sessions)
        if refused:
            await channel.close(Close.BUSY, refused)
            return
    room = await app.room(session_id)
    if room.closed:
        await channel.close(Close.ENDED, "the session has ended")
        return
    key = (session_id, f"control-{role}")
    await _take_over(app, key, ws)
    connection_id = await room.attach(
        role, channel.send, browser=browser_name(ws.headers.get("user-agent"))
    )
    session = room.session
    await channel.send(
        {
            "type": "welcome",
            "role": role,
            "session": {
                "id": session.id,
                # the label (often the client's name) is the therapist's note, not the client's
                "label": session.label if role == "therapist" else "",
                "planned_minutes": session.planned_minutes,
            },
            "state": room.state(role),
            "peer": room.participants[other(role)].send is not None,
            "ice_servers": app.ice_servers(),
            "consent_text": app.config.consent_text,
            **{k: v for k, v in room.consent_state(role).items() if k != "type"},
        }
    )
    try:
        while True:
            message = await channel.receive()
            if message is None:
                continue
            await _control_message(app, room, role, connection_id, channel, message)
    except WebSocketDisconnect:
        pass
    finally:
        _release(app, key, ws)
        await room.detach(role, connection_id)


async def _control_message(
    app: Attune,
    room: Room,
    role: Role,
    connection_id: int,
    channel: Channel,
    message: dict[str, Any],
) -> None:
    kind = message["type"]
    if kind == "ping":
        await channel.send({"type": "pong"})
    elif kind == "offer":
        sdp = message.get("sdp")
        if not isinstance(sdp, str) or not sdp.startswith("v=0") or len(sdp) > MAX_SDP:
            await channel.error("bad_offer", f"'sdp' must be an SDP offer under {MAX_SDP} bytes")
            return
        if not room.participants[role].admitted:
            await channel.error("not_admitted", "wait until the therapist lets you in")
            return
        try:
            answer = await room.answer(role, connection_id, sdp)
        except ValueError as exc:
            await channel.error("bad_offer", str(exc))
            return
        except Exception:  # aiortc's close() of a half-built connection raises AttributeError
            log.warning(
                "session %s: the %s's offer broke the peer connection", room.session.id, role
            )
            await channel.error("bad_offer", "the offer could not be used")
            return
        await channel.send({"type": "answer", "sdp": answer})
    elif kind == "consent":
        agreed = message.get("agreed")
        if not isinstance(agreed, bool):
            await channel.error("bad_message", "consent needs 'agreed': true or false")
            return
        await room.set_consent(role, agreed)
    elif kind == "stats":
        stats = parse_stats(message)
        if isinstance(stats, str):
            await channel.error("bad_message", stats)
            return
        room.participants[role].health.browser_stats(room.now(), stats)
    elif kind == "check":
        check = parse_check(message)
        if isinstance(check, str):
            await channel.error("bad_message", check)
            return
        room.participants[role].health.check = check
    elif kind == "admit":
        if role != "therapist":
            await channel.error("forbidden", "only the therapist can admit")
            return
        await room.admit()
    elif kind == "end":
        if role != "therapist":
            await channel.error("forbidden", "only the therapist can end the session")
            return
        await app.end(room)
    else:
        await channel.error("unknown_type", f"unknown message type {kind!r}")


async def panel_socket(ws: WebSocket) -> None:
    """The therapist's private panel: transcript, labels, cues, notices."""
    app: Attune = ws.app.state.attune
    await ws.accept()
    channel = Channel(ws)
    found = await channel.hello(app)
    if found is None:
        return
    session_id, role = found
    if role != "therapist":
        log.warning("session %s: a %s link tried to open the panel", session_id, role)
        await channel.close(Close.FORBIDDEN, "the panel is for the therapist only")
        return
    room = await app.room(session_id)
    await asyncio.to_thread(
        app.store.audit, "therapist-link", "session.panel_opened", session_id, None
    )
    key = (session_id, "panel")
    await _take_over(app, key, ws)
    for event in list(room.history):
        await channel.send(event)
    panel_id = room.attach_panel(channel.send)
    try:
        while True:
            message = await channel.receive()
            if message is not None:
                await _panel_message(room, channel, message)
    except WebSocketDisconnect:
        pass
    finally:
        room.detach_panel(panel_id)
        _release(app, key, ws)


async def _panel_message(room: Room, channel: Channel, message: dict[str, Any]) -> None:
    kind = message["type"]
    if kind == "ping":
        await channel.send({"type": "pong"})
    elif kind == "cue_feedback":
        cue_id, value = message.get("cue_id"), message.get("value")
        if not isinstance(cue_id, str) or value not in FEEDBACK_VALUES:
            await channel.error(
                "bad_message", f"cue_feedback needs a cue_id and a value in {FEEDBACK_VALUES}"
            )
        elif not await room.cue_feedback(cue_id, value):
            await channel.error("unknown_cue", f"no cue {cue_id!r} in this session")
    elif kind == "cue_settings":
        off = message.get("off")
        if not isinstance(off, list) or not all(isinstance(k, str) and k in KINDS for k in off):
            await channel.error("bad_message", f"cue_settings needs 'off': a list of {KINDS}")
        else:
            room.set_cues_off(frozenset(off))
            await channel.send({"type": "cue_settings", "off": sorted(off)})
    else:
        await channel.error("unknown_type", f"unknown message type {kind!r}")
