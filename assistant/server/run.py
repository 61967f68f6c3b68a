"""Start `attune serve`: load the recogniser once, then run uvicorn with the websockets
protocol implementation."""

from __future__ import annotations

import asyncio
import logging
import sys

import uvicorn

from assistant.dialogue import DialogueStages
from assistant.server.app import MAX_MESSAGE, ServeConfig, create_app
from assistant.speech.asr import AsrOptions, Transcriber, WhisperTranscriber

log = logging.getLogger("attune.server")


def build_server(
    config: ServeConfig, transcriber: Transcriber, stages: DialogueStages
) -> uvicorn.Server:
    app = create_app(config, transcriber, stages)
    return uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            ws="websockets",
            ws_max_size=MAX_MESSAGE,
            access_log=False,  # requests are logged by Attune itself, never with tokens
            log_level="warning",
            lifespan="on",
        )
    )


def serve(config: ServeConfig, asr: AsrOptions, stages: DialogueStages) -> int:
    transcriber = WhisperTranscriber(asr)
    server = build_server(config, transcriber, stages)
    print(
        f"Attune is running on {config.base_url}\n"
        f"Therapist console: {config.base_url}/#key={config.therapist_key}\n"
        "(keep this link private: it creates sessions; Ctrl+C stops the server)",
        file=sys.stderr,
        flush=True,
    )
    asyncio.run(server.serve())
    return 0
