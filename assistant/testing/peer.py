"""A scripted participant without a browser: a real aiortc peer that joins a live session
through the control WebSocket and streams a WAV file as its microphone, in real time.

Used by tests that need real WebRTC peers without Chromium, and by the latency and load
benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack, VideoStreamTrack

from assistant.live import jitter, rtc_tuning


@dataclass
class Received:
    audio_frames: int = 0
    video_frames: int = 0
    loud_audio_frames: int = 0


@dataclass
class PeerParticipant:
    ws_base: str
    token: str
    wav: Path | None = None
    cookie: str | None = None
    """The therapist's login cookie (``LiveServer.cookie``): a therapist link needs it."""
    loop: bool = False
    """Play the WAV over and over (as Chromium's fake microphone does)."""
    messages: list[dict[str, Any]] = field(default_factory=list)
    received: Received = field(default_factory=Received)
    started_at: float | None = None
    """Wall time of the first microphone frame sent: the WAV plays in real time from there."""
    sent_audio_frames: int = 0
    """Microphone frames handed to the peer connection for sending."""
    media_states: list[tuple[float, str]] = field(default_factory=list)
    """(wall time, state) each time the peer connection's state changed."""

    async def __aenter__(self) -> PeerParticipant:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        self._ws = await websockets.connect(
            f"{self.ws_base}/ws/control", max_size=2**20, additional_headers=headers
        )
        await self._ws.send(json.dumps({"type": "hello", "token": self.token}))
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())
        self.welcome = await self.expect("welcome")
        self._pc: RTCPeerConnection | None = None
        self._player: MediaPlayer | None = None
        self._sinks: list[asyncio.Task[None]] = []
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._sinks:
            task.cancel()
        if self._pc is not None:
            await self._pc.close()
        if self._player is not None and self._player.audio is not None:
            self._player.audio.stop()  # joins the player's decoding thread
        await self._ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self._ws:
                message = json.loads(raw)
                self.messages.append(message)
                await self._inbox.put(message)

    async def expect(self, kind: str, within: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            message = await asyncio.wait_for(self._inbox.get(), deadline - time.monotonic())
            if message["type"] == kind:
                return message

    async def consent(self, agreed: bool = True) -> dict[str, Any]:
        """Agree to (or withdraw from) transcription; returns the new consent state."""
        await self.send({"type": "consent", "agreed": agreed})
        while True:  # states broadcast earlier (the other person's choice) may be queued
            state = await self.expect("consent_state")
            if state["you"] is agreed:
                return state

    async def send(self, message: dict[str, Any]) -> None:
        await self._ws.send(json.dumps(message))

    async def start_media(self) -> None:
        """Offer camera (a test pattern) and microphone (the WAV, played in real time)."""
        rtc_tuning.install()  # what a busy relay needs from aiortc/aioice (rtc_tuning.py)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._pc = pc
        if self.wav is not None:
            player = MediaPlayer(str(self.wav), loop=self.loop)
            self._player = player
            assert player.audio is not None
            pc.addTrack(_Timed(player.audio, self))
        else:
            pc.addTransceiver("audio", direction="recvonly")
        pc.addTrack(VideoStreamTrack())

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._sinks.append(asyncio.create_task(self._sink(track)))

        @pc.on("connectionstatechange")
        def on_state() -> None:
            self.media_states.append((time.time(), pc.connectionState))

        await pc.setLocalDescription(await pc.createOffer())
        await self.send({"type": "offer", "sdp": pc.localDescription.sdp})
        answer = await self.expect("answer")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        jitter.install(pc)  # hear the server as a browser would: no extra loss from aiortc

    async def _sink(self, track: MediaStreamTrack) -> None:
        import numpy as np

        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if track.kind == "audio":
                self.received.audio_frames += 1
                samples = frame.to_ndarray()  # type: ignore[union-attr]
                if np.abs(samples).max() > 300:
                    self.received.loud_audio_frames += 1
            else:
                self.received.video_frames += 1


class _Timed(MediaStreamTrack):
    """Passes a track through, noting when its first frame was taken for sending."""

    def __init__(self, source: MediaStreamTrack, owner: PeerParticipant) -> None:
        super().__init__()
        self.kind = source.kind
        self._source = source
        self._owner = owner

    async def recv(self) -> Any:
        frame = await self._source.recv()
        if self._owner.started_at is None:
            self._owner.started_at = time.time()
        if self.kind == "audio":
            self._owner.sent_audio_frames += 1
        return frame


@dataclass
class PanelListener:
    """A websockets client on the therapist's panel, recording each event's arrival time."""

    ws_base: str
    token: str
    cookie: str | None = None
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    async def __aenter__(self) -> PanelListener:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        self._ws = await websockets.connect(
            f"{self.ws_base}/ws/panel", max_size=2**20, additional_headers=headers
        )
        await self._ws.send(json.dumps({"type": "hello", "token": self.token}))
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self._ws:
                self.events.append((time.time(), json.loads(raw)))

    def finals(self) -> list[dict[str, Any]]:
        return [e for _, e in self.events if e["type"] == "utterance" and e["final"] and e["text"]]


async def start_call(
    therapist: PeerParticipant, client: PeerParticipant, *, consent: bool = True
) -> None:
    """The therapist admits the waiting client, both agree to transcription (unless
    ``consent`` is false), and both start their camera and microphone at once."""
    await therapist.expect("peer")
    await therapist.send({"type": "admit"})
    await client.expect("admitted")
    if consent:
        await therapist.consent()
        await client.consent()
    await asyncio.gather(therapist.start_media(), client.start_media())
