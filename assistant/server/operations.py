"""Operations: ``/healthz`` for liveness checks and ``/metrics`` for Prometheus.

``/metrics`` answers requests made directly on the server's own machine (a Prometheus or a
node exporter next to it) and logged-in admins. A request that came through a reverse proxy
carries ``X-Forwarded-For`` and is refused even though it arrives from loopback, so putting
Attune behind nginx does not publish the figures.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from assistant.server.auth import current_user
from assistant.server.http import error

if TYPE_CHECKING:
    from assistant.server.app import Attune


def _local(request: Request) -> bool:
    if request.client is None or "x-forwarded-for" in request.headers:
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


def register_gauges(attune: Attune) -> None:
    """Figures read when scraped: sessions, participants, the transcription queue."""
    m = attune.metrics
    m.gauge(
        "attune_sessions_live",
        "Live sessions (open rooms).",
        lambda: sum(not r.closed for r in attune.rooms.values()),
    )
    m.gauge(
        "attune_participants_connected",
        "Participants whose control connection is open.",
        lambda: sum(
            p.send is not None
            for r in attune.rooms.values()
            if not r.closed
            for p in r.participants.values()
        ),
    )
    m.gauge(
        "attune_transcription_queue_depth",
        "Speech jobs waiting for the recogniser.",
        lambda: attune.service.depth,
    )
    m.gauge(
        "attune_transcription_oldest_wait_seconds",
        "How long the oldest queued speech job has waited.",
        attune.service.oldest_wait,
    )


async def metrics(request: Request) -> Response:
    attune: Attune = request.app.state.attune
    if not _local(request):
        user = await current_user(request)
        if user is None or user.role != "admin":
            return error(403, "forbidden", "metrics are for the server's machine and admins")
    return Response(generate_latest(attune.metrics.registry), media_type=CONTENT_TYPE_LATEST)
