"""The setup check: ``/check`` (the page, also shown before joining a session) and
``/ws/check`` (its connection test, a WebRTC loopback through the relay).

The page needs no account and no link: an assistant can send it to anyone before a session.
The loopback is therefore bounded (a few at once, one per address, 30 seconds each) and
keeps nothing.

Protocol: the browser sends ``{"type": "offer", "sdp": ...}`` within 10 s; the server answers
``{"type": "answer", "sdp": ...}`` and echoes media and data-channel messages until the
browser sends ``{"type": "done"}`` or the time is up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from starlette.websockets import WebSocket, WebSocketDisconnect

from assistant.live.loopback import MAX_LOOPBACK_S, Loopback
from assistant.server.http import same_origin
from assistant.server.sockets import MAX_SDP, Channel, Close

if TYPE_CHECKING:
    from assistant.server.app import Attune

log = logging.getLogger("attune.check")

OFFER_TIMEOUT_S = 10.0


async def check_socket(ws: WebSocket) -> None:
    attune: Attune = ws.app.state.attune
    await ws.accept()
    channel = Channel(ws)
    if not same_origin(ws):
        await channel.close(Close.FORBIDDEN, "run the check from Attune's own page")
        return
    address = ws.client.host if ws.client else "unknown"
    if not attune.loopbacks.acquire(address):
        await channel.close(Close.BUSY, "too many connection tests at once: try again shortly")
        return
    loopback: Loopback | None = None
    try:
        async with asyncio.timeout(MAX_LOOPBACK_S):
            try:
                async with asyncio.timeout(OFFER_TIMEOUT_S):
                    offer = await channel.receive()
            except TimeoutError:
                await channel.close(Close.TIMEOUT, "no offer in time")
                return
            sdp = offer.get("sdp") if offer and offer["type"] == "offer" else None
            if not isinstance(sdp, str) or not sdp.startswith("v=0") or len(sdp) > MAX_SDP:
                await channel.close(Close.BAD_MESSAGE, f"send an SDP offer under {MAX_SDP} bytes")
                return
            loopback = Loopback(attune.config.live.ice_servers)
            try:
                answer = await loopback.answer(sdp)
            except ValueError as exc:
                await channel.close(Close.BAD_MESSAGE, str(exc)[:120])
                return
            attune.metrics.checks.inc()
            await channel.send({"type": "answer", "sdp": answer})
            while True:
                message = await channel.receive()
                if message is not None and message["type"] == "done":
                    break
    except (TimeoutError, WebSocketDisconnect):
        pass
    finally:
        attune.loopbacks.release(address)
        if loopback is not None:
            await loopback.close()
        with contextlib.suppress(Exception):
            await channel.close(1000, "connection test over")
