"""Start `attune serve`: open the store, load the recogniser once, then run uvicorn with the
websockets protocol implementation."""

from __future__ import annotations

import logging
import ssl
import sys
from collections.abc import Callable

import uvicorn

from assistant import eventloop
from assistant.dialogue import DialogueStages
from assistant.eventloop import EventLoop
from assistant.server.app import ServeConfig, create_app
from assistant.server.sockets import MAX_MESSAGE
from assistant.speech.asr import AsrOptions, WhisperTranscriber
from assistant.store import SqlStore, open_store

log = logging.getLogger("attune.server")


def build_server(config: ServeConfig, app: object) -> uvicorn.Server:
    security = config.security
    return uvicorn.Server(
        uvicorn.Config(
            app,  # type: ignore[arg-type]
            host=config.host,
            port=config.port,
            ws="websockets",
            ws_max_size=MAX_MESSAGE,
            access_log=False,  # requests are logged by Attune itself, never with tokens
            log_level="warning",
            lifespan="on",
            # TLS served directly (--certfile/--keyfile): Python's defaults, TLS 1.2 or newer
            ssl_certfile=str(security.certfile) if security.certfile else None,
            ssl_keyfile=str(security.keyfile) if security.keyfile else None,
            ssl_context_factory=_tls_context if security.tls else None,
            # X-Forwarded-Proto/-For are believed only from these proxies
            proxy_headers=True,
            forwarded_allow_ips=security.forwarded_allow_ips,
            server_header=False,
        )
    )


def _tls_context(config: object, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's context with TLS 1.2 as the oldest version, whatever the system allows."""
    context = default()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def quiet_secret_loggers() -> None:
    """Libraries whose debug logs print WebSocket frames (the hello carries a join token) or
    SDP (ICE passwords): never below INFO, even with ``attune -v``."""
    for name in ("websockets", "uvicorn.error", "aiortc", "aioice"):
        logger = logging.getLogger(name)
        logger.setLevel(max(logger.getEffectiveLevel(), logging.INFO))


def open_configured_store(config: ServeConfig) -> SqlStore:
    return open_store(config.database_url or config.data_dir, data_dir=config.data_dir)


def serve(
    config: ServeConfig,
    asr: AsrOptions,
    stages: DialogueStages,
    event_loop: EventLoop | None = None,
) -> int:
    store = open_configured_store(config)
    try:
        problems = store.integrity_check()
        if problems:
            log.error("the store failed its integrity check: %s", "; ".join(problems[:5]))
            return 1
        quiet_secret_loggers()
        transcriber = WhisperTranscriber(asr)
        server = build_server(config, create_app(config, transcriber, stages, store))
        where = config.database_url and "PostgreSQL" or f"{config.data_dir}/attune.db"
        print(f"Attune is running on {config.base_url} (records: {where})", file=sys.stderr)
        if not store.list_users():
            print(
                "No accounts yet. Create one in another terminal, then log in:\n"
                "  .venv/bin/attune user add --role therapist YOUR_NAME"
                f" --data {config.data_dir}",
                file=sys.stderr,
            )
        print("Ctrl+C stops the server.", file=sys.stderr, flush=True)
        eventloop.run(server.serve(), event_loop)
    finally:
        store.close()
    return 0
