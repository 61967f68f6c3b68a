"""The setup check's connection test: a short WebRTC loopback through the relay.

The browser offers its microphone, camera and a data channel; the server's peer sends the
media straight back and echoes every data-channel message. The browser then measures what a
call would meet on this network: round-trip time (data-channel pings), jitter and packet loss
(its getStats on the returned streams and the server's RTCP reports). Nothing is recorded,
transcribed or kept; each loopback lasts at most ``MAX_LOOPBACK_S`` and only a few run at
once, so the public check page cannot be used to load the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from assistant.live import rtc_tuning

log = logging.getLogger("attune.check")

MAX_LOOPBACK_S = 30.0
MAX_CONCURRENT = 4


@dataclass
class Loopbacks:
    """Admission of connection tests: a few at a time, one per address."""

    limit: int = MAX_CONCURRENT
    _by_address: dict[str, int] = field(default_factory=dict)

    def acquire(self, address: str) -> bool:
        if address in self._by_address or len(self._by_address) >= self.limit:
            return False
        self._by_address[address] = 1
        return True

    def release(self, address: str) -> None:
        self._by_address.pop(address, None)


class Loopback:
    """One browser's connection test: its media and data channel, sent back."""

    def __init__(self, ice_servers: tuple[RTCIceServer, ...] = ()) -> None:
        rtc_tuning.install()  # what a busy relay needs from aiortc/aioice (rtc_tuning.py)
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=list(ice_servers)))
        self._relay = MediaRelay()
        self._echoes: list[MediaStreamTrack] = []

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind in ("audio", "video"):
                echo = self._relay.subscribe(track, buffered=False)
                self._echoes.append(echo)
                self.pc.addTrack(echo)

        @self.pc.on("datachannel")
        def on_datachannel(channel: object) -> None:
            @channel.on("message")  # type: ignore[attr-defined]
            def on_message(message: str | bytes) -> None:
                if isinstance(message, str) and len(message) <= 256:
                    channel.send(message)  # type: ignore[attr-defined]

    async def answer(self, sdp: str) -> str:
        """The answer to the browser's offer; raises ValueError on an unusable offer."""
        if "\nm=" not in sdp:
            raise ValueError("the offer has no media to test")
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            await self.pc.setLocalDescription(await self.pc.createAnswer())
        except Exception as exc:  # aiortc raises many types on bad SDP
            raise ValueError(f"the offer could not be used: {exc}") from exc
        return str(self.pc.localDescription.sdp)

    async def close(self) -> None:
        for echo in self._echoes:
            echo.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pc.close(), 5.0)
