"""`attune serve`: the application, its state, and its routes.

HTTP (accounts.py): the login and home pages, ``/api/me``, ``/api/sessions``; ``/room`` (the
session page, opened with a join link); replay.py: the trainer's and therapist's replay;
check.py: ``/check``, the setup check; monitor.py: ``/monitor``, the assistant's monitor;
operations.py: ``/metrics``; static files; ``/healthz``. WebSockets: ``/ws/control`` and
``/ws/panel`` (sockets.py), ``/ws/check`` (check.py), ``/ws/monitor`` (monitor.py). Join
links carry the token in the URL fragment (``/room#token=...``), which browsers never send to
the server.
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
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from assistant.dialogue import DialogueStages
from assistant.live.consent import DEFAULT_CONSENT_TEXT
from assistant.live.loopback import Loopbacks
from assistant.live.metrics import LiveMetrics
from assistant.live.room import LiveOptions, Room
from assistant.live.sessions import SessionRegistry
from assistant.live.transcription import TranscriptionService
from assistant.server import accounts, openapi, operations, replay
from assistant.server.auth import Logins
from assistant.server.check import check_socket
from assistant.server.http import WEB
from assistant.server.monitor import monitor_page, monitor_socket
from assistant.server.security import SecurityMiddleware, SecurityOptions
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
    security: SecurityOptions = field(default_factory=SecurityOptions)
    """TLS, rate limits and session limits (security.py)."""
    max_live_sessions: int = 0
    """Sessions running at once; one more is refused until one ends (0: no fixed limit; a
    server that had to drop a running session's audio refuses new ones either way,
    admission.py)."""

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.security.tls else "http"
        return f"{scheme}://{host}:{self.port}"


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
        self.logins = Logins.for_options(config.security)
        self.metrics = LiveMetrics()
        self.service = TranscriptionService(transcriber, metrics=self.metrics)
        self.stages = stages
        self.rooms: dict[str, Room] = {}
        self.loopbacks = Loopbacks()
        operations.register_gauges(self)
        self.sockets: dict[tuple[str, str], WebSocket] = {}
        self._room_lock = asyncio.Lock()
        # Counting a therapist's open sessions and creating one happen under this lock, so two
        # simultaneous requests cannot both pass the open-session limit.
        self.creating_session = asyncio.Lock()

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
                    metrics=self.metrics,
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
    stats = attune.service.stats
    return JSONResponse(
        {
            "status": "ok",
            "rooms": len(attune.rooms),
            "transcription_queue": attune.service.depth,
            # counters only (never content): the load generator reads the model's time share
            "transcription": {
                "finals_done": stats.finals_done,
                "interims_done": stats.interims_done,
                "interims_dropped": stats.interims_dropped,
                "finals_reused": stats.finals_reused,
                "model_busy_s": round(stats.model_busy_s, 3),
            },
        }
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
            *openapi.routes,
            Route("/room", accounts.page("room.html")),
            Route("/check", accounts.page("check.html")),
            Route("/monitor", monitor_page),
            Route("/healthz", healthz),
            Route("/metrics", operations.metrics),
            WebSocketRoute("/ws/control", control_socket),
            WebSocketRoute("/ws/panel", panel_socket),
            WebSocketRoute("/ws/check", check_socket),
            WebSocketRoute("/ws/monitor", monitor_socket),
            Mount("/static", StaticFiles(directory=WEB), name="static"),
        ],
        lifespan=lifespan,
        middleware=[Middleware(SecurityMiddleware, options=config.security)],
    )
    app.state.attune = attune
    return app
