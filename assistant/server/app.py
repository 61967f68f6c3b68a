"""`attune serve`: the application, its state, and its routes.

HTTP (accounts.py): the login and home pages, ``/api/me``, ``/api/sessions``; ``/room`` (the
session page, opened with a join link); static files; ``/healthz``. WebSockets (sockets.py):
``/ws/control`` and ``/ws/panel``. Join links carry the token in the URL fragment
(``/room#token=...``), which browsers never send to the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from assistant.dialogue import DialogueStages
from assistant.live.consent import DEFAULT_CONSENT_TEXT
from assistant.live.room import LiveOptions, Room
from assistant.live.sessions import SessionRegistry
from assistant.live.transcription import TranscriptionService
from assistant.server import accounts, replay
from assistant.server.auth import Logins
from assistant.server.http import WEB
from assistant.server.sockets import control_socket, panel_socket
from assistant.speech.asr import Transcriber
from assistant.store import SqlStore

log = logging.getLogger("attune.server")


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("attune-data")
    """Where the SQLite store, its key and recorded audio live (created private, 0700)."""
    database_url: str | None = None
    """PostgreSQL instead of SQLite (the key and audio stay in ``data_dir``)."""
    secure_cookies: bool = False
    """Mark login cookies Secure even when Attune itself serves plain HTTP (behind a TLS
    reverse proxy). Requests that arrive over HTTPS always get Secure cookies."""
    live: LiveOptions = field(default_factory=LiveOptions)
    consent_text: str = DEFAULT_CONSENT_TEXT

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


class Attune:
    """Application state: the store, sessions' links, logins, live rooms, the recogniser."""

    def __init__(
        self,
        config: ServeConfig,
        transcriber: Transcriber,
        stages: DialogueStages,
        store: SqlStore,
    ) -> None:
        self.config = config
        self.store = store
        self.registry = SessionRegistry(store)
        self.logins = Logins()
        self.service = TranscriptionService(transcriber)
        self.stages = stages
        self.rooms: dict[str, Room] = {}
        self.sockets: dict[tuple[str, str], WebSocket] = {}
        self._room_lock = asyncio.Lock()

    async def room(self, session_id: str) -> Room:
        """The live room of a session, opened (and restored from the store) on first use."""
        async with self._room_lock:
            room = self.rooms.get(session_id)
            if room is None:
                session = await asyncio.to_thread(self.store.get_session, session_id)
                assert session is not None
                room = Room(
                    session,
                    self.service,
                    self.stages,
                    self.config.live,
                    self.store,
                    consent_text=self.config.consent_text,
                    audio_dir=self.config.data_dir / "audio",
                )
                await room.restore()
                self.rooms[session_id] = room
            return room

    async def end(self, room: Room) -> None:
        await room.end()
        await asyncio.to_thread(self.store.end_session, room.session.id)

    def ice_servers(self) -> list[dict[str, Any]]:
        out = []
        for server in self.config.live.ice_servers:
            entry: dict[str, Any] = {"urls": server.urls}
            if server.username:
                entry["username"] = server.username
                entry["credential"] = server.credential
            out.append(entry)
        return out


async def healthz(request: Request) -> Response:
    attune: Attune = request.app.state.attune
    return JSONResponse(
        {"status": "ok", "rooms": len(attune.rooms), "transcription_queue": attune.service.depth}
    )


def create_app(
    config: ServeConfig,
    transcriber: Transcriber,
    stages: DialogueStages | None = None,
    store: SqlStore | None = None,
) -> Starlette:
    """The application. Without ``store`` it opens one from the config (and closes it)."""
    from assistant.store import open_store

    own_store = store is None
    if store is None:
        store = open_store(config.database_url or config.data_dir, data_dir=config.data_dir)
    attune = Attune(config, transcriber, stages or DialogueStages(), store)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        attune.service.start()
        try:
            yield
        finally:
            for room in list(attune.rooms.values()):
                await room.shutdown()
            await attune.service.stop()
            if own_store:
                store.close()

    app = Starlette(
        routes=[
            *accounts.routes,
            *replay.routes,
            Route("/room", accounts.page("room.html")),
            Route("/healthz", healthz),
            WebSocketRoute("/ws/control", control_socket),
            WebSocketRoute("/ws/panel", panel_socket),
            Mount("/static", StaticFiles(directory=WEB), name="static"),
        ],
        lifespan=lifespan,
    )
    app.state.attune = attune
    return app
