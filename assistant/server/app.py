"""Routes of `attune serve`.

HTTP: the pages (``/``, ``/room``), static files, ``POST /api/sessions`` (therapist key),
``GET /healthz``. WebSockets: ``/ws/control`` for every participant (signalling, join state,
admit) and ``/ws/panel`` for the therapist's private panel. A socket proves itself with its
first message, ``{"type": "hello", "token": ...}``, so tokens never appear in URLs or logs.
Join links carry the token in the URL fragment (``/room#token=...``), which browsers never
send to the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from assistant.cues.catalog import KINDS
from assistant.dialogue import DialogueStages
from assistant.live.consent import DEFAULT_CONSENT_TEXT
from assistant.live.room import LiveOptions, Room, other
from assistant.live.sessions import MAX_PLANNED_MINUTES, MIN_PLANNED_MINUTES, Role, SessionRegistry
from assistant.live.transcription import TranscriptionService
from assistant.speech.asr import Transcriber

log = logging.getLogger("attune.server")

WEB = Path(__file__).resolve().parents[2] / "web"
MAX_BODY = 16 * 1024
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


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    therapist_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    live: LiveOptions = field(default_factory=LiveOptions)
    consent_text: str = DEFAULT_CONSENT_TEXT

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


class Attune:
    """Application state: sessions, live rooms, the shared transcription service."""

    def __init__(
        self, config: ServeConfig, transcriber: Transcriber, stages: DialogueStages
    ) -> None:
        self.config = config
        self.registry = SessionRegistry()
        self.service = TranscriptionService(transcriber)
        self.stages = stages
        self.rooms: dict[str, Room] = {}
        self.sockets: dict[tuple[str, str], WebSocket] = {}

    def room(self, session_id: str) -> Room:
        room = self.rooms.get(session_id)
        if room is None:
            session = self.registry.get(session_id)
            assert session is not None
            room = Room(session, self.service, self.stages, self.config.live)
            self.rooms[session_id] = room
        return room

    def ice_servers(self) -> list[dict[str, Any]]:
        out = []
        for server in self.config.live.ice_servers:
            entry: dict[str, Any] = {"urls": server.urls}
            if server.username:
                entry["username"] = server.username
                entry["credential"] = server.credential
            out.append(entry)
        return out


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


def _therapist_key_ok(app: Attune, request: Request) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key:
        return False
    return hmac.compare_digest(key.encode(), app.config.therapist_key.encode())


async def _json_body(request: Request) -> dict[str, Any] | JSONResponse:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        return _error(413, "too_large", f"request bodies are limited to {MAX_BODY} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return _error(413, "too_large", f"request bodies are limited to {MAX_BODY} bytes")
    try:
        data = json.loads(body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error(400, "bad_json", "the request body is not valid JSON")
    if not isinstance(data, dict):
        return _error(400, "bad_json", "the request body must be a JSON object")
    return data


async def create_session(request: Request) -> Response:
    app: Attune = request.app.state.attune
    if not _therapist_key_ok(app, request):
        return _error(401, "unauthorized", "a valid therapist key is required")
    data = await _json_body(request)
    if isinstance(data, JSONResponse):
        return data
    minutes = data.get("planned_minutes", 50)
    label = data.get("label", "")
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        return _error(400, "bad_field", "planned_minutes must be a whole number of minutes")
    if not MIN_PLANNED_MINUTES <= minutes <= MAX_PLANNED_MINUTES:
        return _error(
            400,
            "bad_field",
            f"planned_minutes must be between {MIN_PLANNED_MINUTES} and {MAX_PLANNED_MINUTES}",
        )
    if not isinstance(label, str) or len(label) > 200:
        return _error(400, "bad_field", "label must be a string of at most 200 characters")
    session, tokens = app.registry.create(minutes, label)
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        {
            "id": session.id,
            "planned_minutes": session.planned_minutes,
            "label": session.label,
            "expires_at": session.expires_at,
            "therapist_url": f"{base}/room#token={tokens['therapist']}",
            "client_url": f"{base}/room#token={tokens['client']}",
        },
        status_code=201,
    )


async def healthz(request: Request) -> Response:
    app: Attune = request.app.state.attune
    return JSONResponse(
        {"status": "ok", "rooms": len(app.rooms), "transcription_queue": app.service.depth}
    )


def _page(name: str) -> Any:
    async def page(request: Request) -> Response:
        return FileResponse(WEB / name, media_type="text/html")

    return page


class Channel:
    """One accepted WebSocket: serialised sends, JSON messages, the hello handshake."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self._lock = asyncio.Lock()
        self.errors = 0

    async def send(self, message: dict[str, Any]) -> None:
        async with self._lock:
            if self.ws.application_state == WebSocketState.CONNECTED:
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
        grant = app.registry.resolve(data.get("token"))
        if grant is None:
            await self.close(Close.UNAUTHORIZED, "unknown or expired link")
            return None
        return grant.session.id, grant.role


async def control_socket(ws: WebSocket) -> None:
    app: Attune = ws.app.state.attune
    await ws.accept()
    channel = Channel(ws)
    found = await channel.hello(app)
    if found is None:
        return
    session_id, role = found
    room = app.room(session_id)
    if room.closed:
        await channel.close(Close.ENDED, "the session has ended")
        return
    key = (session_id, f"control-{role}")
    previous = app.sockets.get(key)
    app.sockets[key] = ws
    if previous is not None:
        await Channel(previous).close(Close.REPLACED, "replaced by a newer connection")
    connection_id, _ = await room.attach(role, channel.send)
    session = room.session
    await channel.send(
        {
            "type": "welcome",
            "role": role,
            "session": {
                "id": session.id,
                "label": session.label,
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
        if app.sockets.get(key) is ws:
            del app.sockets[key]
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
        await channel.send({"type": "answer", "sdp": answer})
    elif kind == "consent":
        agreed = message.get("agreed")
        if not isinstance(agreed, bool):
            await channel.error("bad_message", "consent needs 'agreed': true or false")
            return
        await room.set_consent(role, agreed)
    elif kind == "admit":
        if role != "therapist":
            await channel.error("forbidden", "only the therapist can admit")
            return
        await room.admit()
    elif kind == "end":
        if role != "therapist":
            await channel.error("forbidden", "only the therapist can end the session")
            return
        await room.end()
        app.registry.end(room.session.id)
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
    room = app.room(session_id)
    key = (session_id, "panel")
    previous = app.sockets.get(key)
    app.sockets[key] = ws
    if previous is not None:
        await Channel(previous).close(Close.REPLACED, "replaced by a newer connection")
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
        if app.sockets.get(key) is ws:
            del app.sockets[key]


FEEDBACK = ("dismissed", "helpful", "not_helpful")


async def _panel_message(room: Room, channel: Channel, message: dict[str, Any]) -> None:
    kind = message["type"]
    if kind == "ping":
        await channel.send({"type": "pong"})
    elif kind == "cue_feedback":
        cue_id, value = message.get("cue_id"), message.get("value")
        if not isinstance(cue_id, str) or value not in FEEDBACK:
            await channel.error(
                "bad_message", f"cue_feedback needs a cue_id and a value in {FEEDBACK}"
            )
        elif not room.cue_feedback(cue_id, value):
            await channel.error("unknown_cue", f"no cue {cue_id!r} in this session")
    elif kind == "cue_settings":
        off = message.get("off")
        if not isinstance(off, list) or not set(off) <= set(KINDS):
            await channel.error("bad_message", f"cue_settings needs 'off': a list of {KINDS}")
        else:
            room.set_cues_off(frozenset(off))
            await channel.send({"type": "cue_settings", "off": sorted(off)})
    else:
        await channel.error("unknown_type", f"unknown message type {kind!r}")


def create_app(
    config: ServeConfig, transcriber: Transcriber, stages: DialogueStages | None = None
) -> Starlette:
    attune = Attune(config, transcriber, stages or DialogueStages())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        attune.service.start()
        try:
            yield
        finally:
            for room in list(attune.rooms.values()):
                await room.end()
            await attune.service.stop()

    app = Starlette(
        routes=[
            Route("/", _page("home.html")),
            Route("/room", _page("room.html")),
            Route("/api/sessions", create_session, methods=["POST"]),
            Route("/healthz", healthz),
            WebSocketRoute("/ws/control", control_socket),
            WebSocketRoute("/ws/panel", panel_socket),
            Mount("/static", StaticFiles(directory=WEB), name="static"),
        ],
        lifespan=lifespan,
    )
    app.state.attune = attune
    return app
