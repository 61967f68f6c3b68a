"""An overloaded room degrades instead of failing: a speech tap that falls 5 s behind drops its
oldest audio, the therapist's panel is told once, the drop is counted, and admission keeps new
sessions out. A real Room, store (SQLite file), fan-out and metrics; the tap's input is a
fan-out subscription filled faster than the tap reads it, as a saturated event loop does. No
speech is transcribed here (consent is not given), so the recogniser is never called."""

from __future__ import annotations

import asyncio
import fractions
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamTrack
from prometheus_client import generate_latest

from assistant.dialogue import DialogueStages
from assistant.live.metrics import LiveMetrics
from assistant.live.room import FRAME_S, TAP_BACKLOG_FRAMES, LiveOptions, Room
from assistant.live.sessions import SessionRegistry
from assistant.live.transcription import TranscriptionService
from assistant.server.admission import refusal
from assistant.speech.asr import Transcription
from assistant.store import open_store


class NeverCalled:
    """The recogniser: nothing is transcribed without consent."""

    def transcribe(self, *args: Any, **kwargs: Any) -> Transcription:
        raise AssertionError("nothing is transcribed without consent")

    def transcribe_many(self, *args: Any, **kwargs: Any) -> list[Transcription]:
        raise AssertionError("nothing is transcribed without consent")


class Silent(MediaStreamTrack):
    kind = "audio"

    async def recv(self) -> av.AudioFrame:
        await asyncio.sleep(3600)
        raise AssertionError("never read: the test fills the subscription itself")


def _frame(n: int) -> av.AudioFrame:
    pcm = np.zeros((1, 1920), np.int16)
    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="stereo")
    frame.sample_rate = 48000
    frame.pts = n * 960
    frame.time_base = fractions.Fraction(1, 48000)
    return frame


def test_a_tap_far_behind_drops_audio_tells_the_therapist_and_closes_admission(
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path / "data", data_dir=tmp_path / "data")
    therapist = store.add_user("therapist", "therapist", "therapist-password-1")
    session, _ = SessionRegistry(store).create(therapist.id, 50, "overload", False)
    metrics = LiveMetrics()

    async def main() -> list[dict[str, Any]]:
        service = TranscriptionService(NeverCalled(), metrics=metrics)
        room = Room(session, service, DialogueStages(), LiveOptions(), store, metrics=metrics)
        panel: list[dict[str, Any]] = []

        async def to_panel(event: dict[str, Any]) -> None:
            panel.append(event)

        room.attach_panel(to_panel)
        p = room.participants["client"]
        p.send = to_panel  # connected, so the room counts as running
        feed = room.fanout.subscribe(Silent(), TAP_BACKLOG_FRAMES)
        p.tap_feed = feed
        # six seconds of audio arrive while the tap is busy: one more second than it may hold
        for n in range(TAP_BACKLOG_FRAMES + 50):
            feed.put(_frame(n))
        assert feed.dropped == 50 and room.tap_behind_s("client") == TAP_BACKLOG_FRAMES * FRAME_S
        assert room.transcription_lag() >= 5.0  # the monitor's transcription_behind alert
        assert refusal([room], 0) is None  # behind, but nothing dropped yet
        tap = asyncio.ensure_future(room._tap(p, feed))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if feed.waiting == 0:
                break
        # more drops within 30 s: counted, but told once
        for n in range(TAP_BACKLOG_FRAMES + 50, 2 * TAP_BACKLOG_FRAMES + 150):
            feed.put(_frame(n))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if feed.waiting == 0:
                break
        assert room.strained_within(60.0)
        reason = refusal([room], 0)
        assert reason is not None and "too busy" in reason
        tap.cancel()
        await room.shutdown()
        return panel

    panel = asyncio.run(main())
    notices = [e for e in panel if e["type"] == "notice" and e["code"] == "server_overloaded"]
    assert len(notices) == 1 and notices[0]["role"] == "client", panel
    assert "could not be transcribed" in notices[0]["message"]
    stored = [e for e in store.events(session.id) if e["type"] == "notice"]
    assert [e["code"] for e in stored] == ["server_overloaded"]  # on record like any notice
    exposition = generate_latest(metrics.registry).decode()
    assert 'attune_audio_dropped_seconds_total{role="client"} 3.0' in exposition  # 150 frames
    store.close()
